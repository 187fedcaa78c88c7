"""The DataModule, and the image sources it draws crops from.

Every source yields uint8 RGB tensors (3, H, W). The loaders yield uint8 RGB
batches; L and chroma are computed after the batch reaches the device (see
``ColorizerModule.on_after_batch_transfer``), never per image on the CPU.

Sources (``data.source``):
  * ``sample``: colour photos that ship with scikit-image; no download needed.
  * ``folder``: any directory tree of photos, split deterministically by a hash of
    each file's relative path (adding files never moves old ones between splits),
    or a separate ``val_root``.
  * ``torchvision``: a torchvision dataset by class name, with its own splits.
  * ``streaming``: LitData chunks written by ``make prepare`` (``data.stream_to``), streamed from a
    folder or cloud storage; see :mod:`colorize.streaming`.

Unreadable files (corrupt, truncated, empty, not an image) never stop a run unless
``data.on_bad_file=error``: a readable image takes the bad one's place, so a batch is
never short, and the batch carries the bad file's name to the main process, which warns
once per file and counts them for the end-of-epoch report (``pop_unreadable``).

Every random choice of a training epoch (the shuffle, each crop and flip) is a function
of the seed, the epoch and the item alone, never of a worker's random state, so a run
that resumes mid-epoch draws the same batches as one that never stopped.

A loader worker builds each batch whole (``CropDataset.__getitems__``): each crop is one
copy from its image (a view into the cache's memory map, with ``data.cache_dir``) into
the batch, flipped within that copy.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import os
import signal
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import lightning as L
import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, DistributedSampler, get_worker_info
from torchvision.transforms.v2 import functional as TF

from colorize.config import SAMPLE_IMAGES
from colorize.errors import UserError
from colorize.images import IMAGE_EXTENSIONS, ImageReadError, is_image_file, read_rgb
from colorize.resized import ResizedImages

log = logging.getLogger(__name__)

# Readable images tried in place of an unreadable one before deciding the data set itself is broken.
MAX_REPLACEMENT_TRIES = 20


class DataError(UserError, ValueError):
    """Data that cannot be used for training; the message says what to fix."""


# ---------------------------------------------------------------- sources


def sample_photo(name: str) -> np.ndarray:
    from skimage import data

    if name in ("motorcycle_left", "motorcycle_right"):
        left, right, _ = data.stereo_motorcycle()
        return left if name == "motorcycle_left" else right
    loader = getattr(data, name, None)
    if loader is None or name.startswith("_") or not callable(loader):
        raise DataError(f"data.sample_images: {name!r} is not a scikit-image sample photo. Try: {', '.join(SKIMAGE_PHOTOS)}.")
    return loader()


# Every colour photo of skimage.data that loads offline; the default training sample is a subset.
SKIMAGE_PHOTOS = (*SAMPLE_IMAGES, "retina", "colorwheel", "logo")


class SampleImages:
    """scikit-image's sample photos, held in memory (a few MB)."""

    def __init__(self, names: Sequence[str]) -> None:
        self.names = list(names)
        self.images = []
        for name in self.names:
            array = sample_photo(name)
            if array.ndim == 2:
                array = np.stack([array] * 3, axis=-1)
            self.images.append(torch.from_numpy(np.ascontiguousarray(array[..., :3])).permute(2, 0, 1).contiguous())

    def __len__(self) -> int:
        return len(self.images)

    def load(self, index: int) -> Tensor:
        return self.images[index]


class FolderImages:
    """Image files on disk, decoded on demand."""

    def __init__(self, paths: Sequence[Path]) -> None:
        self.paths = list(paths)

    def __len__(self) -> int:
        return len(self.paths)

    def load(self, index: int) -> Tensor:
        return read_rgb(self.paths[index])


class TorchvisionImages:
    """The images of a torchvision dataset (labels are dropped)."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def load(self, index: int) -> Tensor:
        item = self.dataset[index]
        image = item[0] if isinstance(item, (tuple, list)) else item
        tensor = TF.pil_to_tensor(image.convert("RGB")) if hasattr(image, "convert") else torch.as_tensor(image)
        return tensor


def list_images(root: Path) -> list[Path]:
    """Every image file below ``root``, sorted by relative path."""
    return sorted((p for p in root.rglob("*") if p.is_file() and is_image_file(p)), key=lambda p: p.as_posix())


def hash_split(keys: Sequence[str], val_fraction: float, seed: int = 0) -> tuple[list[int], list[int]]:
    """Deterministic train/val split of ``keys``: an item's side depends only on its own key and the seed."""
    scores = [int.from_bytes(hashlib.sha1(f"{seed}:{k}".encode()).digest()[:8], "big") / 2**64 for k in keys]
    val = [i for i, s in enumerate(scores) if s < val_fraction]
    if not val and val_fraction > 0 and len(keys) > 1:
        val = [min(range(len(keys)), key=scores.__getitem__)]
    val_set = set(val)
    return [i for i in range(len(keys)) if i not in val_set], val


# torchvision datasets whose constructors take a split, and the arguments for each side.
TORCHVISION_SPLITS: dict[str, tuple[dict, dict]] = {
    "CIFAR10": ({"train": True}, {"train": False}),
    "CIFAR100": ({"train": True}, {"train": False}),
    "STL10": ({"split": "train+unlabeled"}, {"split": "test"}),
    "Flowers102": ({"split": "train"}, {"split": "val"}),
    "Places365": ({"split": "train-standard", "small": True}, {"split": "val", "small": True}),
    "Food101": ({"split": "train"}, {"split": "test"}),
    "OxfordIIITPet": ({"split": "trainval"}, {"split": "test"}),
    "ImageNet": ({"split": "train"}, {"split": "val"}),
}


def _torchvision_sources(name: str, root: str, download: bool) -> tuple[TorchvisionImages, TorchvisionImages]:
    import torchvision.datasets

    if name not in TORCHVISION_SPLITS:
        raise DataError(f"data.dataset={name!r} is not supported. Choose one of: {', '.join(sorted(TORCHVISION_SPLITS))}.")
    cls = getattr(torchvision.datasets, name)
    train_kwargs, val_kwargs = TORCHVISION_SPLITS[name]
    extra = {} if name == "ImageNet" else {"download": download}
    try:
        return (
            TorchvisionImages(cls(root, **train_kwargs, **extra)),
            TorchvisionImages(cls(root, **val_kwargs, **extra)),
        )
    except (RuntimeError, FileNotFoundError) as e:
        hint = "" if download else " Set data.download=true to fetch it (needs internet), or point data.root at a copy."
        raise DataError(f"torchvision dataset {name} is not available under {root!r}: {e}.{hint}") from None


# ---------------------------------------------------------------- crops


class ImageBatch(NamedTuple):
    """What the loaders yield; ``ColorizationDataModule.on_before_batch_transfer`` passes on only ``rgb``."""

    rgb: Tensor  # (B, 3, crop, crop) uint8
    unreadable: list[str]  # "path: reason" of each unreadable file replaced while making this batch


def collate_crops(items: list[tuple[Tensor, list[str]]] | ImageBatch) -> ImageBatch:
    """Items stacked into a batch; a batch that :meth:`CropDataset.__getitems__` made whole passes as it is."""
    if isinstance(items, ImageBatch):
        return items
    return ImageBatch(torch.stack([crop for crop, _ in items]), [why for _, skipped in items for why in skipped])


def _batch_buffer(size: int, crop_size: int) -> Tensor:
    """An uninitialised uint8 batch; in a loader worker, in shared memory, so that it reaches the main process
    with no copy (as torch's default_collate does)."""
    shape = (size, 3, crop_size, crop_size)
    if get_worker_info() is None:
        return torch.empty(shape, dtype=torch.uint8)
    storage = torch.UntypedStorage._new_shared(size * 3 * crop_size * crop_size)
    return torch.empty(0, dtype=torch.uint8).set_(storage).view(shape)


class ItemRandom:
    """Random numbers that depend only on an item's address: splitmix64 (Steele et al.) from a start state.

    A crop draws three numbers; a seeded library generator costs 60-120 µs to make per item (numpy's Philox,
    torch.Generator; measured here), more than everything else a cached crop costs, while this costs ~5 µs.
    """

    MASK = 2**64 - 1

    def __init__(self, state: int) -> None:
        self.state = state & self.MASK

    def next(self) -> int:
        self.state = (self.state + 0x9E3779B97F4A7C15) & self.MASK
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & self.MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & self.MASK
        return z ^ (z >> 31)

    def below(self, n: int) -> int:
        """Uniform in [0, n)."""
        return (self.next() * n) >> 64

    def coin(self) -> bool:
        return bool(self.next() >> 63)


def flipped(window: Tensor, flip: bool) -> Tensor:
    """A crop as its own contiguous tensor, mirrored left to right if ``flip``."""
    return (window.flip(-1) if flip else window).contiguous()


class CropDataset(Dataset):
    """Square crops of each image: random for training (flipped at random with ``hflip``), fixed for validation.

    Items are ``(crop, unreadable)``. An item is addressed by its index (a fixed crop), or
    by ``(index, epoch)`` from :class:`EpochSampler` (a random crop drawn for that epoch).
    Either way its crop, flip and any replacement image depend only on the address and
    ``seed``. Images smaller than the crop are resized up first.
    """

    def __init__(
        self,
        source: Any,
        crop_size: int,
        crops_per_image: int = 1,
        hflip: bool = True,
        seed: int = 0,
        on_bad_file: str = "skip",
    ) -> None:
        self.source = source
        self.crop_size = crop_size
        self.crops_per_image = crops_per_image
        self.hflip = hflip
        self.seed = seed
        self.on_bad_file = on_bad_file

    def __len__(self) -> int:
        return len(self.source) * self.crops_per_image

    def __getitem__(self, item: int | tuple[int, int]) -> tuple[Tensor, list[str]]:
        window, flip, unreadable = self.window(item)
        return flipped(window, flip), unreadable

    def __getitems__(self, items: list[int | tuple[int, int]]) -> ImageBatch:
        """A whole batch (the DataLoader asks for one at a time): each crop is copied once, straight into the
        batch, and flipped in that same copy; the same crops as item by item."""
        batch = _batch_buffer(len(items), self.crop_size)
        out = batch.numpy()
        unreadable: list[str] = []
        for position, item in enumerate(items):
            window, flip, skipped = self.window(item)
            pixels = window.numpy()
            np.copyto(out[position], pixels[..., ::-1] if flip else pixels)
            unreadable += skipped
        return ImageBatch(batch, unreadable)

    def window(self, item: int | tuple[int, int]) -> tuple[Tensor, bool, list[str]]:
        """The crop of ``item`` as a view into its image, whether to flip it, and any unreadable files skipped."""
        index, epoch = item if isinstance(item, tuple) else (item, 0)
        random = self.item_random(index, epoch)
        image, unreadable = self.load(index // self.crops_per_image, random)
        window, flip = self.crop(image, random)
        return window, flip, unreadable

    def item_random(self, index: int, epoch: int) -> ItemRandom:
        """The random draws of item ``index`` in ``epoch``: its crop, flip and any replacement image."""
        return ItemRandom((self.seed * 1_000_003 + epoch) * 1_000_003 + index)

    def load(self, image_index: int, random: ItemRandom) -> tuple[Tensor, list[str]]:
        """The image, or with ``on_bad_file=skip`` a readable one drawn in its place; and why any were skipped."""
        unreadable: list[str] = []
        for _ in range(MAX_REPLACEMENT_TRIES):
            try:
                return self.source.load(image_index), unreadable
            except ImageReadError as e:
                if self.on_bad_file == "error":
                    raise ImageReadError(f"{e} Fix or remove it, or set data.on_bad_file=skip to skip such files.") from None
                unreadable.append(str(e))
                image_index = random.below(len(self.source))
        raise DataError(
            f"{MAX_REPLACEMENT_TRIES} files in a row could not be read as images, e.g. {unreadable[0]} "
            "Is the data folder really one of photos?"
        )

    def crop(self, image: Tensor, random: ItemRandom) -> tuple[Tensor, bool]:
        """A random square window of ``image`` (a view, not a copy), and whether to flip it."""
        size = self.crop_size
        height, width = image.shape[-2:]
        if min(height, width) < size:
            scale = size / min(height, width)
            height, width = max(size, round(height * scale)), max(size, round(width * scale))
            image = TF.resize(image, [height, width], antialias=True)
        top = random.below(height - size + 1)
        left = random.below(width - size + 1)
        flip = self.hflip and random.coin()
        return image[..., top : top + size, left : left + size], flip


class EpochSampler(DistributedSampler):
    """Yields ``(index, epoch)``: a shuffle drawn from (seed, epoch) alone, this process's shard of it under
    DDP (Lightning keeps a DistributedSampler as it is), and, after a mid-epoch resume, only the part of
    the epoch not yet trained on (``start`` samples skipped, once)."""

    def __init__(self, dataset: Dataset, num_replicas: int = 1, rank: int = 0, seed: int = 0, epoch: int = 0, start: int = 0):
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=True, seed=seed)
        self.epoch = epoch
        self.start = start

    def __iter__(self) -> Iterator[tuple[int, int]]:  # type: ignore[override]
        start, self.start = self.start, 0
        epoch = self.epoch
        return ((index, epoch) for index in itertools.islice(super().__iter__(), start, None))


def worker_ignores_stop_signals(worker_id: int) -> None:
    """Ctrl+C reaches every process of the terminal's group: the main process alone decides how to stop
    (finish the batch, save a checkpoint), then shuts its workers down."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


# ---------------------------------------------------------------- DataModule


def loader_workers(configured: int | None = None) -> int:
    """``data.num_workers`` if set, else one fewer than the CPUs, at most 8."""
    return max(0, min(8, (os.cpu_count() or 1) - 1)) if configured is None else configured


class ColorizationDataModule(L.LightningDataModule):
    """Batches of uint8 RGB crops, shaped (B, 3, crop, crop), from the configured source.

    The loaders yield :class:`ImageBatch`; under a Trainer, ``on_before_batch_transfer`` passes on its
    ``rgb``. Code that iterates a loader itself takes ``batch.rgb``.
    """

    def __init__(self, cfg: Any, seed: int = 0) -> None:
        super().__init__()
        self.cfg = cfg
        self.seed = seed  # of the training shuffle, crops and flips
        self.train_set: CropDataset | None = None
        self.val_set: CropDataset | None = None
        self._sampler: EpochSampler | None = None
        self._train_stream: Any = None  # data=streaming: the train loader, which keeps its own position
        self._resume_at: dict[str, int] = {}
        self._unreadable: dict[str, None] = {}  # met since the last report, in order
        self._warned: set[str] = set()

    def _sources(self) -> tuple[Any, Any]:
        cfg = self.cfg
        if cfg.source == "sample":
            unknown = set(cfg.sample_val_images) - set(cfg.sample_images)
            if unknown:
                raise DataError(f"data.sample_val_images names {sorted(unknown)}, which are not in data.sample_images.")
            train = [n for n in cfg.sample_images if n not in cfg.sample_val_images]
            return SampleImages(train), SampleImages(cfg.sample_val_images)
        if cfg.source == "folder":
            return self._folder_sources()
        return _torchvision_sources(cfg.dataset, os.path.expanduser(cfg.root or "data"), cfg.download)

    def _folder_sources(self) -> tuple[FolderImages, FolderImages]:
        cfg = self.cfg
        if not cfg.root:
            raise DataError("data=folder needs data.root=PATH, the folder of photos to train on.")
        root = Path(os.path.expanduser(cfg.root))
        if not root.is_dir():
            raise DataError(f"data.root={cfg.root!r} is not a folder. Point it at a directory of photos.")
        paths = list_images(root)
        if not paths:
            raise DataError(f"data.root={cfg.root!r} holds no images (looked for {', '.join(sorted(IMAGE_EXTENSIONS))}).")
        if cfg.val_root:
            val_root = Path(os.path.expanduser(cfg.val_root))
            val_paths = list_images(val_root) if val_root.is_dir() else []
            if not val_paths:
                raise DataError(f"data.val_root={cfg.val_root!r} is not a folder of images.")
            return FolderImages(paths), FolderImages(val_paths)
        train_idx, val_idx = hash_split([p.relative_to(root).as_posix() for p in paths], cfg.val_fraction, cfg.split_seed)
        if not train_idx or not val_idx:
            raise DataError(
                f"data.root={cfg.root!r} has {len(paths)} image(s): too few to split into train and validation "
                f"with data.val_fraction={cfg.val_fraction}. Add images, or give data.val_root."
            )
        return FolderImages([paths[i] for i in train_idx]), FolderImages([paths[i] for i in val_idx])

    def _prepared(self, source: Any) -> Any:
        """``source`` at ``data.prepare_size``, through ``data.cache_dir`` when given (see :mod:`colorize.resized`)."""
        cfg = self.cfg
        if cfg.cache_dir and not cfg.prepare_size:
            raise DataError("data.cache_dir holds photos resized to data.prepare_size: set that too, e.g. data.prepare_size=288.")
        if cfg.cache_dir and cfg.source != "folder":
            raise DataError(f"data.cache_dir is for photo folders (data=folder); data.source={cfg.source} needs none.")
        if not cfg.prepare_size:
            return source
        if cfg.prepare_size < cfg.crop_size:
            raise DataError(
                f"data.prepare_size={cfg.prepare_size} is smaller than data.crop_size={cfg.crop_size}, but crops are "
                f"taken from the resized photos: raise it (e.g. data.prepare_size={round(cfg.crop_size * 1.125)}) or lower "
                "the crop size."
            )
        return ResizedImages(source, cfg.prepare_size, cfg.cache_dir, loader_workers(cfg.num_workers))

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        cfg = self.cfg
        if cfg.source == "streaming":  # LitData chunks, see colorize.streaming
            from colorize.streaming import streaming_sets

            self.train_set, self.val_set = streaming_sets(cfg, self.seed)
            return
        train_source, val_source = map(self._prepared, self._sources())
        bad = cfg.on_bad_file
        self.train_set = CropDataset(train_source, cfg.crop_size, cfg.train_crops_per_image, cfg.hflip, self.seed, bad)
        self.val_set = CropDataset(val_source, cfg.crop_size, cfg.val_crops_per_image, False, cfg.split_seed, bad)
        if len(self.val_set) == 0:
            raise DataError("No validation images: name some in data.sample_val_images, or give data.val_root.")
        if len(self.train_set) < cfg.batch_size:
            raise DataError(
                f"Only {len(self.train_set)} training crop(s), fewer than one batch (data.batch_size={cfg.batch_size}). "
                "Add images, lower data.batch_size, or raise data.train_crops_per_image."
            )

    def _loader(self, dataset: Dataset, sampler: EpochSampler | None = None) -> DataLoader:
        workers = loader_workers(self.cfg.num_workers)
        return DataLoader(
            dataset,
            batch_size=self.cfg.batch_size,
            sampler=sampler,
            drop_last=sampler is not None,
            num_workers=workers,
            persistent_workers=workers > 0,
            pin_memory=torch.cuda.is_available(),
            collate_fn=collate_crops,
            worker_init_fn=worker_ignores_stop_signals,
            # Its own generator for the workers' base seed, so that starting an epoch's loader never draws
            # from the global random state that the model's own random operations use.
            generator=torch.Generator(),
        )

    def train_sampler(self) -> EpochSampler:
        """The training shuffle: from epoch 0, or from where a resumed checkpoint stopped (see ``state_dict``)."""
        assert self.train_set is not None
        replicas, rank = (self.trainer.world_size, self.trainer.global_rank) if self.trainer is not None else (1, 0)
        at, self._resume_at = self._resume_at, {}
        self._sampler = EpochSampler(self.train_set, replicas, rank, self.seed, at.get("epoch", 0), at.get("start", 0))
        return self._sampler

    def train_dataloader(self) -> DataLoader:
        assert self.train_set is not None
        if self.cfg.source == "streaming":
            from colorize.streaming import streaming_loader

            at, self._resume_at = self._resume_at, {}
            self._train_stream = streaming_loader(self.train_set, self.cfg, train=True)
            self._train_stream.resume(at.get("epoch", 0), at.get("start", 0))
            return self._train_stream
        return self._loader(self.train_set, self.train_sampler())

    def val_dataloader(self) -> DataLoader:
        assert self.val_set is not None
        if self.cfg.source == "streaming":
            from colorize.streaming import streaming_loader

            return streaming_loader(self.val_set, self.cfg, train=False)
        return self._loader(self.val_set)

    def state_dict(self) -> dict[str, int]:
        """Where the training shuffle stands, saved in every checkpoint.

        Lightning restores it before it first asks for the train loader (which it may do to count
        steps before it restores the loops), so a resumed run goes on with the very next batch.
        """
        if self.trainer is None or (self._sampler is None and self._train_stream is None):
            return {}
        epoch = self.trainer.current_epoch if self._sampler is None else self._sampler.epoch
        progress = self.trainer.fit_loop.epoch_loop.batch_progress
        if progress.is_last_batch:  # the epoch's batches are done: a resume starts the next epoch
            return {"epoch": epoch + 1, "start": 0}
        return {"epoch": epoch, "start": progress.current.processed * self.cfg.batch_size}

    def load_state_dict(self, state_dict: dict[str, int]) -> None:
        self._resume_at = dict(state_dict)

    def on_before_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        if not isinstance(batch, ImageBatch):
            return batch
        for why in batch.unreadable:
            if why not in self._warned:
                self._warned.add(why)
                log.warning("Skipped an unreadable file (a readable one took its place): %s", why)
            self._unreadable[why] = None
        return batch.rgb

    def pop_unreadable(self) -> list[str]:
        """The unreadable files met since the last call ("path: reason"), in the order met."""
        found, self._unreadable = list(self._unreadable), {}
        return found
