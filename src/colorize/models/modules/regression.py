"""How ``cnn`` and ``resnet`` train: regress chroma from L with a pixel loss."""

from __future__ import annotations

import torch

from colorize.models.modules.base import ColorBatch, ColorizerModule
from colorize.models.modules.finetuning import parameter_groups
from colorize.networks.losses import reconstruction_loss


class RegressionColorizer(ColorizerModule):
    """Pixel-loss regression of normalised chroma; AdamW with an optional per-step cosine decay.

    With a pretrained encoder (``resnet``), the encoder can train at a lower learning rate and be
    frozen for the first epochs (see :mod:`colorize.models.modules.finetuning`).
    """

    @property
    def ddp_find_unused_parameters(self) -> bool:  # a frozen encoder gets no gradients
        return bool(self.model_cfg.get("freeze_encoder_epochs"))

    def training_step(self, batch: ColorBatch, batch_idx: int) -> torch.Tensor:
        batch = self.with_hints(batch, batch_idx)
        chroma = self(batch.lightness, batch.hints).float()
        loss = reconstruction_loss(self.model_cfg.loss)(chroma, batch.chroma) + self.rgb_losses(batch, chroma)
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
