"""The crop machinery every source of photos shares: crops and flips drawn per item, the epoch sampler, batches.

The loaders yield uint8 RGB batches; L and chroma are computed after the batch reaches the device (see
``ColorizerModule.on_after_batch_transfer``), never per image on the CPU.

Unreadable files (corrupt, truncated, empty, not an image) never stop a run unless
``data.on_bad_file=error``: a readable image takes the bad one's place, so a batch is
never short, and the batch carries the bad file's name to the main process, which warns
once per file and counts them for the end-of-epoch report.

Every random choice of a training epoch (the shuffle, each crop and flip) is a function
of the seed, the epoch and the item alone, never of a worker's random state, so a run
that resumes mid-epoch draws the same batches as one that never stopped.

A loader worker builds each batch whole (``CropDataset.__getitems__``): each crop is one
copy from its image (a view into the cache's memory map, with ``data.cache_dir``) into
the batch, flipped within that copy.
"""

from __future__ import annotations

import itertools
import os
import signal
from collections.abc import Iterator
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, DistributedSampler, get_worker_info
from torchvision.transforms.v2 import functional as TF

from colorize.data.registry import DataError, Photos
from colorize.images import ImageReadError

# Readable images tried in place of an unreadable one before deciding the data set itself is broken.
MAX_REPLACEMENT_TRIES = 20


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
        source: Photos | None,
        crop_size: int,
        crops_per_image: int = 1,
        hflip: bool = True,
        seed: int = 0,
        on_bad_file: str = "skip",
        split: str = "the data",  # what the photos are, for an error: e.g. "the validation split (3 files, chosen by ...)"
    ) -> None:
        self.source = source
        self.split = split
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
        tried: set[int] = set()
        for index in self.candidates(image_index, random):
            try:
                return self.source.load(index), unreadable
            except ImageReadError as e:
                if self.on_bad_file == "error":
                    raise ImageReadError(f"{e} Fix or remove it, or set data.on_bad_file=skip to skip such files.") from None
                unreadable.append(str(e))
                tried.add(index)
        if len(tried) == len(self.source):
            raise DataError(f"{self.split} has no readable photo: {unreadable[0]} Fix or replace its files.")
        raise DataError(
            f"{MAX_REPLACEMENT_TRIES} files in a row of {self.split} could not be read as images, e.g. {unreadable[0]} "
            "Does it really hold photos?"
        )

    def candidates(self, image_index: int, random: ItemRandom) -> Iterator[int]:
        """The image, then the images drawn in its place while they cannot be read (a draw each); in a split no larger
        than the number of draws, then every image not yet drawn, so that "no readable photo" is known."""
        drawn = [image_index]
        yield image_index
        for _ in range(MAX_REPLACEMENT_TRIES - 1):
            drawn.append(random.below(len(self.source)))
            yield drawn[-1]
        if len(self.source) <= MAX_REPLACEMENT_TRIES:
            yield from sorted(set(range(len(self.source))) - set(drawn))

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


# ---------------------------------------------------------------- loaders


def loader_workers(configured: int | None = None) -> int:
    """``data.num_workers`` if set, else one fewer than the CPUs, at most 8."""
    return max(0, min(8, (os.cpu_count() or 1) - 1)) if configured is None else configured


def crop_loader(dataset: Dataset, cfg: Any, sampler: EpochSampler | None = None) -> DataLoader:
    """Batches of ``dataset``: the training batches in the sampler's order, or the validation batches in order."""
    workers = loader_workers(cfg.num_workers)
    return DataLoader(
        dataset,
        batch_size=cfg.batch_size,
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
