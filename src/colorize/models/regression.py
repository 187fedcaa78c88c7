"""What ``cnn`` and ``resnet`` share: regress chroma from L with a pixel loss."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from colorize.models.base import ColorBatch, ColorizerModule
from colorize.models.finetuning import parameter_groups
from colorize.models.registry import ModelOptions
from colorize.networks.losses import RECONSTRUCTION_LOSSES
from colorize.options import NON_NEGATIVE, POSITIVE, option

# The learning-rate schedule over a run's steps: none, or cosine decay to zero.
SCHEDULERS = ("cosine", "none")


@dataclass
class RegressionOptions(ModelOptions):
    """Loss and optimiser of a regression family."""

    loss: str = option("l1", choices=RECONSTRUCTION_LOSSES)
    lr: float = option(2e-3, POSITIVE)
    weight_decay: float = option(1e-4, NON_NEGATIVE)
    scheduler: str = option("cosine", choices=SCHEDULERS)


class RegressionColorizer(ColorizerModule):
    """Pixel-loss regression of normalised chroma; AdamW with an optional per-step cosine decay.

    With a pretrained encoder (``resnet``), the encoder can train at a lower learning rate and be
    frozen for the first epochs (see :mod:`colorize.models.finetuning`).
    """

    @property
    def ddp_find_unused_parameters(self) -> bool:  # a frozen encoder gets no gradients
        return bool(self.model_cfg.get("freeze_encoder_epochs"))

    def training_step(self, batch: ColorBatch, batch_idx: int) -> torch.Tensor:
        loss = RECONSTRUCTION_LOSSES[self.model_cfg.loss](self(batch.lightness).float(), batch.chroma)
        self.log("train/loss", loss, prog_bar=True, batch_size=len(batch.rgb))
        return loss

    def configure_optimizers(self):
        cfg = self.model_cfg
        optimizer = torch.optim.AdamW(parameter_groups(self.net, cfg, cfg.lr), lr=cfg.lr, weight_decay=cfg.weight_decay)
        if cfg.scheduler == "none":
            return optimizer
        total = max(1, int(self.trainer.estimated_stepping_batches))
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
