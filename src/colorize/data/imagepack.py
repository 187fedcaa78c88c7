"""Many uint8 images of any size in a few large files, read back through memory maps with no copy.

A folder of packs holds pairs of files: ``<id>.pack``, the images' bytes one after another as (3, H, W)
arrays, and ``<id>.index.npy``, one record per image (its 20-byte key, offset, height and width). A pack
is written as ``<id>.pack.partial``, renamed when complete, and only then given its index (atomically):
a pack without an index, or whose index points past its end, is ignored, so a crash never leaves a half
written pack that looks complete. Packs are only ever added, never changed, so any number of processes
can write new packs into one folder at once (each writes its own) and readers never see a change.
"""

from __future__ import annotations

import io
import logging
import os
import uuid
from pathlib import Path
from typing import NamedTuple

import numpy as np

from colorize.files import atomic_write_bytes

log = logging.getLogger(__name__)

KEY_BYTES = 20  # a SHA-1 digest
INDEX_RECORD = np.dtype([("key", f"S{KEY_BYTES}"), ("offset", "<i8"), ("height", "<i4"), ("width", "<i4")])
CHANNELS = 3
# A pack is closed, and the next one begun, once it holds this many bytes.
PACK_BYTES = 2**32


class Location(NamedTuple):
    pack: Path
    offset: int
    height: int
    width: int


def read_indexes(folder: Path) -> dict[bytes, Location]:
    """Every image in the complete packs of ``folder``, by key."""
    found: dict[bytes, Location] = {}
    for index_path in sorted(folder.glob("*.index.npy")):
        pack = index_path.with_name(index_path.name.removesuffix(".index.npy") + ".pack")
        try:
            records = np.load(index_path, allow_pickle=False)
            size = pack.stat().st_size
        except (OSError, ValueError, EOFError):
            log.warning("Ignoring the unreadable pack %s of the cache (it is made again if needed).", pack)
            continue
        if not _fits(records, size):
            log.warning("Ignoring the damaged pack %s of the cache (it is made again if needed).", pack)
            continue
        for key, offset, height, width in records.tolist():
            # numpy drops a fixed-size bytes field's trailing NULs: one key in 256 ends with one
            found[key.ljust(KEY_BYTES, b"\0")] = Location(pack, offset, height, width)
    return found


def _fits(records: np.ndarray, pack_size: int) -> bool:
    """Whether an index is one, and every image it lists lies within its pack."""
    if records.dtype != INDEX_RECORD or records.ndim != 1:
        return False
    if not len(records):
        return True
    ends = records["offset"] + CHANNELS * records["height"].astype(np.int64) * records["width"]
    return bool(
        records["offset"].min() >= 0 and records["height"].min() > 0 and records["width"].min() > 0 and ends.max() <= pack_size
    )


class PackWriter:
    """Appends images to new packs in ``folder``; each pack appears, whole, when closed (see the module's notes)."""

    def __init__(self, folder: Path, pack_bytes: int = PACK_BYTES) -> None:
        self.folder = folder
        self.pack_bytes = pack_bytes
        self._file: io.BufferedWriter | None = None
        self._path: Path | None = None
        self._records: list[tuple[bytes, int, int, int]] = []
        self._offset = 0

    def add(self, key: bytes, image: np.ndarray) -> None:
        """Store a (3, H, W) uint8 image under ``key``; raises OSError (the pack being written is then dropped)."""
        if len(key) != KEY_BYTES:
            raise ValueError(f"a pack's keys are {KEY_BYTES} bytes, not {len(key)}")
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[0] != CHANNELS:
            raise ValueError(f"a pack holds (3, H, W) uint8 images, not {image.dtype} {image.shape}")
        if self._file is None:
            self.folder.mkdir(parents=True, exist_ok=True)
            self._path = self.folder / f"{uuid.uuid4().hex}.pack"
            self._file = open(self._partial, "wb")  # noqa: SIM115 (closed by close() or discard())
        try:
            self._file.write(np.ascontiguousarray(image).data)
        except OSError:
            self.discard()
            raise
        self._records.append((key, self._offset, image.shape[1], image.shape[2]))
        self._offset += image.nbytes
        if self._offset >= self.pack_bytes:
            self.close()

    @property
    def _partial(self) -> Path:
        assert self._path is not None
        return self._path.with_name(self._path.name + ".partial")

    def close(self) -> None:
        """Finish the pack being written: sync it, name it, then write its index, which makes it visible."""
        if self._file is None:
            return
        try:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            os.replace(self._partial, self._path)
            buffer = io.BytesIO()
            np.save(buffer, np.array(self._records, dtype=INDEX_RECORD), allow_pickle=False)
            atomic_write_bytes(self._path.with_name(self._path.stem + ".index.npy"), buffer.getvalue())
        except OSError:
            self.discard()
            raise
        self._file, self._records, self._offset = None, [], 0

    def discard(self) -> None:
        """Drop the pack being written (its images were not stored)."""
        if self._file is not None:
            self._file.close()
            self._partial.unlink(missing_ok=True)
            assert self._path is not None
            self._path.unlink(missing_ok=True)
        self._file, self._records, self._offset = None, [], 0

    def __enter__(self) -> PackWriter:
        return self

    def __exit__(self, kind, error, traceback) -> None:
        if kind is None:
            self.close()
        else:
            self.discard()


class PackReader:
    """Images of packs as read-only array views of their memory maps, each pack mapped once per process."""

    def __init__(self) -> None:
        self._maps: dict[Path, np.memmap] = {}

    def image(self, location: Location) -> np.ndarray:
        pack, offset, height, width = location
        data = self._maps.get(pack)
        if data is None:
            # copy-on-write ("c"): pages are shared, never written back, and torch.from_numpy accepts the view
            data = self._maps[pack] = np.memmap(pack, dtype=np.uint8, mode="c")
        return data[offset : offset + CHANNELS * height * width].reshape(CHANNELS, height, width)

    def __getstate__(self) -> dict:
        return {"_maps": {}}  # a process that receives a reader maps the packs itself
