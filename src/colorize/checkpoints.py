"""Checkpoint files: how they are marked as colorize's, read safely, and written atomically.

Every checkpoint carries ``checkpoint["colorize"] = {"format": FORMAT, "version": ...}``
(added by ``ColorizerModule.on_save_checkpoint``). :func:`read_checkpoint` loads with
``weights_only=True``, so no pickled code in a file runs, and says clearly when a file is
not a colorize checkpoint or has a format this version cannot read.
"""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO

from colorize import __version__
from colorize.errors import UserError
from colorize.files import atomic_writer

MARKER = "colorize"
# Raise when a change to what checkpoints hold means older code can no longer rebuild a model from them.
FORMAT = 1


class CheckpointError(UserError, ValueError):
    """A file that cannot be used as a colorize checkpoint; the message says why and what to use instead."""


def marker() -> dict[str, Any]:
    return {"format": FORMAT, "version": __version__}


def read_checkpoint(path: str | Path, map_location: Any = "cpu") -> dict[str, Any]:
    """Load a colorize checkpoint (weights only), or raise :class:`CheckpointError` naming the file and the problem."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file (look in runs/<run>/checkpoints/).")
    checkpoint = None
    if path.stat().st_size == 0:
        reason = "the file is empty"
    elif not zipfile.is_zipfile(path):
        reason = "it is not a whole file written by torch.save (another format, or cut short)"
    else:
        try:
            checkpoint = torch.load(path, map_location=map_location, weights_only=True, mmap=True)  # mmap: cheap to check
        except pickle.UnpicklingError:
            reason = "it holds Python objects whose loading would run code, and colorize loads weights only"
        except Exception as e:  # a damaged archive, mostly; torch's first line says which
            reason = (str(e).strip().splitlines() or [type(e).__name__])[0]
    if checkpoint is None:
        raise CheckpointError(
            f"{path} is not a colorize checkpoint: {reason}. Use a .ckpt written by colorize.train (runs/<run>/checkpoints/)."
        )
    found = checkpoint.get(MARKER) if isinstance(checkpoint, dict) else None
    if not isinstance(found, dict) or "format" not in found:
        raise CheckpointError(
            f"{path} is a torch file but not a colorize checkpoint (it has no {MARKER!r} entry; a plain state dict "
            "or another project's checkpoint looks like this). Use a .ckpt written by colorize.train "
            "(runs/<run>/checkpoints/)."
        )
    if found["format"] != FORMAT:
        newer = found["format"] > FORMAT
        raise CheckpointError(
            f"{path} was written by colorize {found.get('version', '?')} in checkpoint format {found['format']}; "
            f"this colorize ({__version__}) reads format {FORMAT}. "
            + ("Upgrade colorize to use it." if newer else "Use the colorize version that wrote it.")
        )
    return checkpoint


class AtomicCheckpointIO(TorchCheckpointIO):
    """Writes local checkpoints beside their target, fsyncs, then renames, so a kill or a full disk mid-write
    leaves the previous file intact. (Lightning's own local save goes through a temporary file in the system
    temp folder and a move that becomes a plain copy across file systems, with no fsync.)"""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None) -> None:
        if "://" in str(path):  # remote storage: fsspec's transaction is the right tool there
            super().save_checkpoint(checkpoint, path, storage_options)
            return
        with atomic_writer(path) as f:
            torch.save(checkpoint, f)
