"""Callbacks: the validation sample grid."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.loggers import WandbLogger
from torchvision.utils import make_grid

from colorize.files import save_png


def to_uint8_image(rgb: torch.Tensor) -> np.ndarray:
    """(3, H, W) float in [0, 1] -> (H, W, 3) uint8. wandb.Image needs uint8: it does not scale floats."""
    return (rgb.detach().float().clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()


class SampleGrid(L.Callback):
    """Each validation epoch: a grid with one row per image, columns L | prediction | ground truth.

    The same validation images every epoch (the first ``n_images`` of the fixed val
    set). Saved as ``<out_dir>/epoch=NNN-step=NNNNNN.png`` and logged to W&B as
    ``val/samples``.
    """

    def __init__(self, out_dir: str | Path, n_images: int = 8) -> None:
        self.out_dir = Path(out_dir)
        self.n_images = n_images
        self._rows: list[torch.Tensor] = []
        self.last_path: Path | None = None

    def on_validation_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._rows = []

    def on_validation_batch_end(
        self, trainer: L.Trainer, pl_module: Any, outputs: Any, batch: Any, batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        wanted = self.n_images - len(self._rows)
        if trainer.sanity_checking or wanted <= 0 or not isinstance(outputs, dict) or "rgb_hat" not in outputs:
            return
        grey = pl_module.space.decode(batch.lightness, pl_module.space.grey_chroma(batch.lightness))
        for g, p, t in zip(grey[:wanted], outputs["rgb_hat"][:wanted], batch.rgb[:wanted]):
            self._rows.extend([g.float().cpu(), p.float().cpu(), t.float().cpu()])

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking or not self._rows or not trainer.is_global_zero:
            return
        grid = to_uint8_image(make_grid(torch.stack(self._rows), nrow=3, padding=2, pad_value=1.0))
        self.last_path = self.out_dir / f"epoch={trainer.current_epoch:03d}-step={trainer.global_step:06d}.png"
        save_png(self.last_path, grid)
        for logger in trainer.loggers:
            if isinstance(logger, WandbLogger):
                logger.log_image("val/samples", [grid], step=trainer.global_step, caption=["L | prediction | truth"])
        self._rows = []
