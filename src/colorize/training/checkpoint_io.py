"""Writing checkpoints atomically under Lightning."""

from __future__ import annotations

from typing import Any

import torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO

from colorize.files import atomic_writer


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
