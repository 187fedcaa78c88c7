"""``folder``: any directory tree of photos, split deterministically by a hash of each file's relative path.

Adding files never moves old ones between splits; ``data.val_root`` gives a separate validation tree instead.
With ``data.prepare_size`` and ``data.cache_dir``, the resized photos are kept (see :mod:`colorize.data.resized`).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from colorize.data.photo_source import PhotoSource
from colorize.data.registry import DataError, DataOptions, SplitOptions, register

if TYPE_CHECKING:
    from torch import Tensor

    from colorize.data.resized import CacheReport, ResizedImages


@dataclass
class FolderOptions(SplitOptions, DataOptions):
    """Any directory tree of jpg, png, webp, bmp or tiff photos (data.root), split by a hash of each path."""

    root: str | None = None  # the photo tree (required)
    val_root: str | None = None  # a separate validation tree (else a split of root)
    # With prepare_size: keep the resized photos in this folder (filled by `make prepare`, or on first use).
    cache_dir: str | None = None


class FolderImages:
    """Image files on disk, decoded on demand."""

    def __init__(self, paths: Sequence[Path]) -> None:
        self.paths = list(paths)
        self.names = [str(p) for p in self.paths]

    def __len__(self) -> int:
        return len(self.paths)

    def load(self, index: int) -> Tensor:
        from colorize.images import read_rgb

        return read_rgb(self.paths[index], fast_decoder=True)


def hash_split(keys: Sequence[str], val_fraction: float, seed: int = 0) -> tuple[list[int], list[int]]:
    """Deterministic train/val split of ``keys``: an item's side depends only on its own key and the seed."""
    scores = [int.from_bytes(hashlib.sha1(f"{seed}:{k}".encode()).digest()[:8], "big") / 2**64 for k in keys]
    val = [i for i, s in enumerate(scores) if s < val_fraction]
    if not val and val_fraction > 0 and len(keys) > 1:
        val = [min(range(len(keys)), key=scores.__getitem__)]
    val_set = set(val)
    return [i for i in range(len(keys)) if i not in val_set], val


class Folder(PhotoSource):
    name = "folder"
    options = FolderOptions

    def identity(self, cfg: Any) -> str:
        return f"folder:{cfg.root}"

    def check(self, cfg: Any) -> None:
        if not cfg.root:
            raise DataError("data=folder needs data.root=PATH, the folder of photos to train on.")
        if not Path(os.path.expanduser(cfg.root)).is_dir():
            raise DataError(f"data.root={cfg.root!r} is not a folder. Point it at a directory of photos.")
        if cfg.val_root and not Path(os.path.expanduser(cfg.val_root)).is_dir():
            raise DataError(f"data.val_root={cfg.val_root!r} is not a folder. Point it at a directory of photos.")

    def photos(self, cfg: Any) -> tuple[FolderImages, FolderImages]:
        from colorize.images import IMAGE_EXTENSIONS, list_images

        self.check(cfg)
        root = Path(os.path.expanduser(cfg.root))
        paths = list_images(root)
        if not paths:
            raise DataError(f"data.root={cfg.root!r} holds no images (looked for {', '.join(sorted(IMAGE_EXTENSIONS))}).")
        if cfg.val_root:
            val_paths = list_images(Path(os.path.expanduser(cfg.val_root)))
            if not val_paths:
                raise DataError(
                    f"data.val_root={cfg.val_root!r} holds no images (looked for {', '.join(sorted(IMAGE_EXTENSIONS))})."
                )
            return FolderImages(paths), FolderImages(val_paths)
        train_idx, val_idx = hash_split([p.relative_to(root).as_posix() for p in paths], cfg.val_fraction, cfg.split_seed)
        if not train_idx or not val_idx:
            raise DataError(
                f"data.root={cfg.root!r} has {len(paths)} image(s): too few to split into train and validation "
                f"with data.val_fraction={cfg.val_fraction}. Add images, or give data.val_root."
            )
        return FolderImages([paths[i] for i in train_idx]), FolderImages([paths[i] for i in val_idx])

    def chosen_by(self, cfg: Any, split: str) -> str:
        if cfg.val_root:
            return "data.val_root" if split == "validation" else "data.root"
        return "data.val_fraction"

    def splits(self, cfg: Any) -> tuple[FolderImages | ResizedImages, FolderImages | ResizedImages]:
        """The photos at ``data.prepare_size``, through ``data.cache_dir`` when given."""
        from colorize.data.crops import loader_workers
        from colorize.data.resized import ResizedImages, check_prepare_size

        if cfg.cache_dir and not cfg.prepare_size:
            raise DataError("data.cache_dir holds photos resized to data.prepare_size: set that too, e.g. data.prepare_size=288.")
        if not cfg.cache_dir:
            return super().splits(cfg)
        check_prepare_size(cfg)
        workers = loader_workers(cfg.num_workers)
        train, val = self.photos(cfg)
        return (
            ResizedImages(train, cfg.prepare_size, cfg.cache_dir, workers),
            ResizedImages(val, cfg.prepare_size, cfg.cache_dir, workers),
        )

    def prepare(self, cfg: Any) -> CacheReport | None:
        """Fill ``data.cache_dir`` with the photos resized to ``data.prepare_size``."""
        from colorize.data.resized import CacheReport

        if not cfg.cache_dir:
            return None
        report = CacheReport()
        for photos in self.splits(cfg):
            report.add(photos.report)
        return report


register(Folder())
