"""Writing outputs so that a crash or a full disk never leaves a half-written file that looks complete."""

from __future__ import annotations

import errno
import io
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image

from colorize.errors import UserError

NO_SPACE = (errno.ENOSPC, errno.EDQUOT)


class DiskFullError(UserError, OSError):
    """No space (or quota) left while writing an output; the previous version of the file is intact."""


def disk_full_error(path: str | Path, error: OSError) -> DiskFullError:
    return DiskFullError(
        f"No space left on the device (or over quota) while writing {path}: {error.strerror}. "
        "Nothing half-written was kept, and any previous version of the file is intact. "
        "Free some space, or point runs_dir at a disk with room, then resume."
    )


def _current_umask() -> int:
    try:  # Linux says it without changing it
        with open("/proc/self/status") as status:
            return next(int(line.split()[1], 8) for line in status if line.startswith("Umask:"))
    except (OSError, StopIteration, ValueError):
        mask = os.umask(0o022)  # elsewhere the only way to read it is to set it; put back at once
        os.umask(mask)
        return mask


def new_file_mode(path: Path) -> int:
    """The permissions a plain ``open(path, "w")`` would leave: the existing file's, else 0666 less the umask.

    (``tempfile.mkstemp`` makes its file 0600, which would hide every output from colleagues and web servers.)
    """
    try:
        return path.stat().st_mode & 0o7777
    except OSError:
        return 0o666 & ~_current_umask()


@contextmanager
def atomic_writer(path: str | Path) -> Iterator[BinaryIO]:
    """A binary file that appears at ``path`` only once fully written and synced to disk.

    Written to a temporary file beside ``path`` (so the final rename never crosses
    file systems), fsynced, then renamed over ``path``. On any failure, including a
    kill signal turned into an exception, the temporary file is removed and ``path``
    keeps its previous content. A full disk raises :class:`DiskFullError`.
    """
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.fchmod(fd, new_file_mode(path))
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        if isinstance(e, OSError) and not isinstance(e, DiskFullError) and e.errno in NO_SPACE:
            raise disk_full_error(path, e) from e
        raise


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    with atomic_writer(path) as f:
        f.write(data)


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def save_png(path: str | Path, image: np.ndarray) -> None:
    """Save a uint8 (H, W, 3) array as PNG, atomically."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    atomic_write_bytes(path, buffer.getvalue())
