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
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset
from torchvision.transforms.v2 import functional as TF

from colorize.errors import UserError
from colorize.images import IMAGE_EXTENSIONS, is_image_file, read_rgb
from colorize.resized import ResizedImages


class DataError(UserError, ValueError):
    """Data that cannot be used for training; the message says what to fix."""


# ---------------------------------------------------------------- sources


def _skimage_photo(name: str) -> np.ndarray:
    from skimage import data

    if name in ("motorcycle_left", "motorcycle_right"):
        left, right, _ = data.stereo_motorcycle()
        return left if name == "motorcycle_left" else right
    loader = getattr(data, name, None)
    if loader is None or name.startswith("_") or not callable(loader):
        raise DataError(f"data.sample_images: {name!r} is not a scikit-image sample photo. Try: {', '.join(SKIMAGE_PHOTOS)}.")
    return loader()


SKIMAGE_PHOTOS = (
    "astronaut",
    "chelsea",
    "coffee",
    "rocket",
    "motorcycle_left",
    "motorcycle_right",
    "immunohistochemistry",
    "hubble_deep_field",
    "retina",
    "colorwheel",
    "logo",
)


class SampleImages:
    """scikit-image's sample photos, held in memory (a few MB)."""

    def __init__(self, names: Sequence[str]) -> None:
        self.names = list(names)
        self.images = []
        for name in self.names:
            array = _skimage_photo(name)
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


class CropDataset(Dataset):
    """Square crops of each image: random (with flips) for training, fixed for validation.

    Images smaller than the crop are resized up first. Fixed crops depend only on
    the item's index and ``seed``, so every run validates on the same pixels.
    """

    def __init__(
        self, source: Any, crop_size: int, crops_per_image: int = 1, train: bool = True, hflip: bool = True, seed: int = 0
    ) -> None:
        self.source = source
        self.crop_size = crop_size
        self.crops_per_image = crops_per_image
        self.train = train
        self.hflip = hflip
        self.seed = seed

    def __len__(self) -> int:
        return len(self.source) * self.crops_per_image

    def __getitem__(self, index: int) -> Tensor:
        image = self.source.load(index // self.crops_per_image)
        return self.crop(image, index)

    def crop(self, image: Tensor, index: int) -> Tensor:
        size = self.crop_size
        height, width = image.shape[-2:]
        if min(height, width) < size:
            scale = size / min(height, width)
            height, width = max(size, round(height * scale)), max(size, round(width * scale))
            image = TF.resize(image, [height, width], antialias=True)
        generator = None if self.train else torch.Generator().manual_seed(self.seed * 1_000_003 + index)
        top = int(torch.randint(0, height - size + 1, (1,), generator=generator))
        left = int(torch.randint(0, width - size + 1, (1,), generator=generator))
        crop = image[..., top : top + size, left : left + size]
        if self.train and self.hflip and torch.rand(()) < 0.5:
            crop = crop.flip(-1)
        return crop.contiguous()


# ---------------------------------------------------------------- DataModule


def default_num_workers() -> int:
    return max(0, min(8, (os.cpu_count() or 1) - 1))


class ColorizationDataModule(L.LightningDataModule):
    """Batches of uint8 RGB crops, shaped (B, 3, crop, crop), from the configured source."""

    def __init__(self, cfg: Any) -> None:
        super().__init__()
        self.cfg = cfg
        self.train_set: CropDataset | None = None
        self.val_set: CropDataset | None = None

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
        return ResizedImages(source, cfg.prepare_size, cfg.cache_dir)

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        cfg = self.cfg
        train_source, val_source = map(self._prepared, self._sources())
        self.train_set = CropDataset(train_source, cfg.crop_size, cfg.train_crops_per_image, True, cfg.hflip, cfg.split_seed)
        self.val_set = CropDataset(val_source, cfg.crop_size, cfg.val_crops_per_image, False, False, cfg.split_seed)
        if len(self.train_set) < cfg.batch_size:
            raise DataError(
                f"Only {len(self.train_set)} training crop(s), fewer than one batch (data.batch_size={cfg.batch_size}). "
                "Add images, lower data.batch_size, or raise data.train_crops_per_image."
            )

    def _loader(self, dataset: Dataset, train: bool) -> DataLoader:
        workers = default_num_workers() if self.cfg.num_workers is None else self.cfg.num_workers
        return DataLoader(
            dataset,
            batch_size=self.cfg.batch_size,
            shuffle=train,
            drop_last=train,
            num_workers=workers,
            persistent_workers=workers > 0,
            pin_memory=torch.cuda.is_available(),
        )

    def train_dataloader(self) -> DataLoader:
        assert self.train_set is not None
        return self._loader(self.train_set, train=True)

    def val_dataloader(self) -> DataLoader:
        assert self.val_set is not None
        return self._loader(self.val_set, train=False)
