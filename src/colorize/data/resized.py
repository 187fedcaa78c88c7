"""Photos resized before cropping (``data.prepare_size``), and the cache that keeps them (``data.cache_dir``).

With ``data.prepare_size=S`` each photo is scaled so that its shorter side is S pixels (a photo already
that small is left as it is) before crops are taken from it, so that a crop covers more of a large photo,
as pix2pix's resize-then-crop does. A JPEG is decoded straight at a reduced size (1/2, 1/4 or 1/8 of it,
never below S) and then resized with antialiasing, which costs a fraction of decoding it whole.

With ``data.cache_dir`` as well (``data=folder`` only), the resized photos are stored there once, as uint8
arrays packed into a few large files (see :mod:`colorize.data.imagepack`), and read back through memory maps
with no decoding and no copy: a loader worker then only copies each crop into its batch. ``make prepare``
fills the cache ahead of training; a run fills in whatever is missing before it starts. Each photo's entry
is keyed by a hash of its resolved path, size in bytes, modification time and S, so a photo that changes,
moves or is resized differently gets a new entry; the photos themselves are only ever read. Delete the
folder to reclaim its space (entries of photos that changed are not removed).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset
from torchvision.transforms.v2 import functional as TF
from tqdm import tqdm

from colorize.data.imagepack import Location, PackReader, PackWriter, read_indexes
from colorize.data.registry import DataError, Photos
from colorize.images import ImageReadError, read_rgb
from colorize.portable import working_shape

log = logging.getLogger(__name__)

# Part of every entry's name: changing how entries are made must change this.
CACHE_VERSION = 2  # 1: one .npy file per photo


def resize_shorter_side(image: Tensor, size: int) -> Tensor:
    """A (3, H, W) uint8 image scaled (antialiased bilinear) so that its shorter side is ``size``; never enlarged."""
    shape = working_shape(*image.shape[-2:], size)
    if shape == tuple(image.shape[-2:]):
        return image
    return TF.resize(image, list(shape), antialias=True)


def read_resized(photo: Path, size: int) -> Tensor:
    """The photo at ``data.prepare_size=size``: what the cache stores, and what a run without a cache uses."""
    return resize_shorter_side(read_rgb(photo, min_side=size), size)


def photo_key(photo: Path, size: int) -> bytes:
    """The cache's key for ``photo`` at ``size``; it changes whenever the photo does."""
    try:
        stat = photo.stat()
    except OSError as e:
        raise ImageReadError(f"{photo}: cannot read ({e.strerror or e}).") from e
    return hashlib.sha1(f"{CACHE_VERSION}|{photo.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{size}".encode()).digest()


def check_prepare_size(cfg: Any) -> None:
    if cfg.prepare_size < cfg.crop_size:
        raise DataError(
            f"data.prepare_size={cfg.prepare_size} is smaller than data.crop_size={cfg.crop_size}, but crops are "
            f"taken from the resized photos: raise it (e.g. data.prepare_size={round(cfg.crop_size * 1.125)}) or lower "
            "the crop size."
        )


@dataclass
class CacheReport:
    written: int = 0  # photos resized and stored
    cached: int = 0  # photos found in the cache
    unreadable: list[str] = field(default_factory=list)  # "path: reason" of photos that cannot be read

    def add(self, other: CacheReport) -> None:
        self.written += other.written
        self.cached += other.cached
        self.unreadable += other.unreadable


class _Resize(Dataset):
    """Item i: (i, photo i resized), or (i, why it cannot be read)."""

    def __init__(self, photos: list[Path], size: int) -> None:
        self.photos, self.size = photos, size

    def __len__(self) -> int:
        return len(self.photos)

    def __getitem__(self, index: int) -> tuple[int, Tensor | str]:
        try:
            return index, read_resized(self.photos[index], self.size)
        except ImageReadError as e:
            return index, str(e)


# Where each photo of a source lies in the cache; pack -1: not cached (it is resized on load).
LOCATION = np.dtype([("pack", "<i4"), ("offset", "<i8"), ("height", "<i4"), ("width", "<i4")])


class ResizedImages:
    """A source's photos (:class:`colorize.data.registry.Photos`) at ``data.prepare_size``.

    Photo files (a source with ``paths``) are decoded at a reduced size where the format allows it. With a
    ``cache_dir`` as well, the photos missing from the cache are resized and stored there when this is made (with
    ``workers`` processes; ``report`` says what was done), and are read from it from then on.
    """

    def __init__(self, source: Photos, size: int, cache_dir: str | Path | None = None, workers: int = 0) -> None:
        self.source = source
        self.names = source.names
        self.size = size
        self.cache_dir = None if cache_dir is None else Path(cache_dir).expanduser()
        self.paths: list[Path] | None = getattr(source, "paths", None)
        self.report = CacheReport()
        self._packs: list[Path] = []
        self._locations: np.ndarray | None = None
        self._reader = PackReader()
        if self.cache_dir is not None and self.paths is not None:
            self.report = self._fill_cache(workers)

    def __len__(self) -> int:
        return len(self.source)

    def load(self, index: int) -> Tensor:
        if self.paths is None:
            return resize_shorter_side(self.source.load(index), self.size)
        if self._locations is not None:
            pack, offset, height, width = self._locations[index].tolist()
            if pack >= 0:
                return torch.from_numpy(self._reader.image(Location(self._packs[pack], offset, height, width)))
        return read_resized(self.paths[index], self.size)

    def _fill_cache(self, workers: int) -> CacheReport:
        assert self.cache_dir is not None and self.paths is not None
        report = CacheReport()
        keys: list[bytes | None] = []
        for photo in self.paths:
            try:
                keys.append(photo_key(photo, self.size))
            except ImageReadError as e:
                keys.append(None)
                report.unreadable.append(str(e))
        index = read_indexes(self.cache_dir)
        missing = [i for i, key in enumerate(keys) if key is not None and key not in index]
        report.cached = sum(key in index for key in keys if key is not None)
        if missing:
            self._resize_into_cache(missing, keys, workers, report)
            index = read_indexes(self.cache_dir)
            report.written = sum(keys[i] in index for i in missing)
        packs = {pack: number for number, pack in enumerate(sorted({location.pack for location in index.values()}))}
        self._packs = list(packs)
        self._locations = np.zeros(len(keys), dtype=LOCATION)
        self._locations["pack"] = -1
        for i, key in enumerate(keys):
            if key in index:
                pack, offset, height, width = index[key]
                self._locations[i] = (packs[pack], offset, height, width)
        return report

    def _resize_into_cache(self, missing: list[int], keys: list[bytes | None], workers: int, report: CacheReport) -> None:
        assert self.cache_dir is not None and self.paths is not None
        log.info("Resizing %d photo(s) into the cache %s", len(missing), self.cache_dir)
        photos = _Resize([self.paths[i] for i in missing], self.size)
        loader = DataLoader(photos, batch_size=None, num_workers=workers)
        try:
            with PackWriter(self.cache_dir) as writer:
                for position, image in tqdm(loader, total=len(photos), unit="photo", desc="resizing", disable=None):
                    if isinstance(image, str):
                        report.unreadable.append(image)
                    else:
                        writer.add(keys[missing[position]], image.numpy())
        except OSError as e:
            log.warning("Cannot write to the cache %s (%s); training goes on without caching.", self.cache_dir, e)
