"""``cnn`` and ``resnet``: regress chroma from L with a pixel loss."""

from __future__ import annotations

import torch

from colorize.models.base import ColorBatch, ColorizerModule
from colorize.networks.losses import RECONSTRUCTION_LOSSES


class RegressionColorizer(ColorizerModule):
    """Pixel-loss regression of normalised chroma; AdamW with an optional per-step cosine decay."""

    def training_step(self, batch: ColorBatch, batch_idx: int) -> torch.Tensor:
        loss = RECONSTRUCTION_LOSSES[self.model_cfg.loss](self(batch.lightness).float(), batch.chroma)
        self.log("train/loss", loss, prog_bar=True, batch_size=len(batch.rgb))
        return loss

    def parameter_groups(self) -> list[dict]:
        return [{"params": [p for p in self.net.parameters() if p.requires_grad]}]

    def configure_optimizers(self):
        cfg = self.model_cfg
        optimizer = torch.optim.AdamW(self.parameter_groups(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        if cfg.scheduler == "none":
            return optimizer
        total = max(1, int(self.trainer.estimated_stepping_batches))
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
