"""Photos resized before cropping (``data.prepare_size``), and the cache that keeps them (``data.cache_dir``).

With ``data.prepare_size=S`` each photo is scaled so that its shorter side is S pixels (a photo already
that small is left as it is) before crops are taken from it, so that a crop covers more of a large photo,
as pix2pix's resize-then-crop does. A JPEG is decoded straight at a reduced size (1/2, 1/4 or 1/8 of it,
never below S) and then resized with antialiasing, which costs a fraction of decoding it whole.

With ``data.cache_dir`` as well (``data=folder`` only), each resized photo is stored there once as a uint8
``.npy`` array and read back with no decoding at all: ``make prepare`` fills the cache ahead of training,
and a run writes any entry that is missing. An entry is named by a hash of the photo's resolved path, size
in bytes, modification time and S, so a photo that changes, moves or is resized differently gets a new
entry; the photos themselves are only ever read. Delete the folder to reclaim its space.
"""

from __future__ import annotations

import hashlib
import io
import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torchvision.transforms.v2 import functional as TF

from colorize.files import atomic_write_bytes
from colorize.images import ImageReadError, read_rgb
from colorize.inference import working_shape

log = logging.getLogger(__name__)

# Part of every entry's name: changing how entries are made must change this.
CACHE_VERSION = 1


def resize_shorter_side(image: Tensor, size: int) -> Tensor:
    """A (3, H, W) uint8 image scaled (antialiased bilinear) so that its shorter side is ``size``; never enlarged."""
    shape = working_shape(*image.shape[-2:], size)
    if shape == tuple(image.shape[-2:]):
        return image
    return TF.resize(image, list(shape), antialias=True)


def read_resized(photo: Path, size: int) -> Tensor:
    """The photo at ``data.prepare_size=size``: what the cache stores, and what a run without a cache uses."""
    return resize_shorter_side(read_rgb(photo, min_side=size), size)


def cache_entry(cache_dir: Path, photo: Path, size: int) -> Path:
    """Where the resized ``photo`` lives in ``cache_dir``; the name changes whenever the photo does."""
    try:
        stat = photo.stat()
    except OSError as e:
        raise ImageReadError(f"{photo}: cannot read ({e.strerror or e}).") from e
    key = f"{CACHE_VERSION}|{photo.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{size}"
    digest = hashlib.sha1(key.encode()).hexdigest()
    return cache_dir / digest[:2] / f"{digest}.npy"


def read_entry(entry: Path) -> Tensor | None:
    """A cached image, or None if there is none or it is damaged (it is then made again)."""
    try:
        array = np.load(entry)
    except (OSError, ValueError, EOFError):  # missing, or damaged
        return None
    if array.dtype != np.uint8 or array.ndim != 3 or array.shape[0] != 3:
        return None
    return torch.from_numpy(array)


def write_entry(entry: Path, image: Tensor) -> None:
    """Store an image in the cache; a cache that cannot be written (read-only, full) is only warned about."""
    buffer = io.BytesIO()
    np.save(buffer, image.numpy(), allow_pickle=False)
    try:
        atomic_write_bytes(entry, buffer.getvalue())
    except OSError as e:
        log.warning("Cannot write to the cache %s (%s); training goes on without caching.", entry.parent.parent, e)


class ResizedImages:
    """A source of images (see :mod:`colorize.data`) whose images come at ``data.prepare_size``.

    For a folder source with a ``cache_dir``, each image is read from the cache, or made and stored there.
    """

    def __init__(self, source: Any, size: int, cache_dir: str | Path | None = None) -> None:
        self.source = source
        self.size = size
        self.cache_dir = None if cache_dir is None else Path(cache_dir).expanduser()
        self.paths: list[Path] | None = getattr(source, "paths", None)

    def __len__(self) -> int:
        return len(self.source)

    def load(self, index: int) -> Tensor:
        if self.paths is None:
            return resize_shorter_side(self.source.load(index), self.size)
        photo = self.paths[index]
        if self.cache_dir is None:
            return read_resized(photo, self.size)
        return self.load_cached(photo)[0]

    def load_cached(self, photo: Path) -> tuple[Tensor, bool]:
        """The resized photo, and whether it had to be made (and was stored) rather than read from the cache."""
        assert self.cache_dir is not None
        entry = cache_entry(self.cache_dir, photo, self.size)
        image = read_entry(entry)
        if image is not None:
            return image, False
        image = read_resized(photo, self.size)
        write_entry(entry, image)
        return image, True
