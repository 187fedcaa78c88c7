"""What every colorizer LightningModule shares: the colour space, the batch, validation metrics."""

from __future__ import annotations

from functools import partial
from typing import Any, NamedTuple

import lightning as L
import torch
import torch.nn.functional as F
from omegaconf import OmegaConf
from torch import Tensor, nn

from colorize import checkpoints
from colorize.metrics import color_metrics
from colorize.models.bodies import Built, build_body
from colorize.models.finetuning import freeze_for_epoch
from colorize.spaces import ColorSpace, get_space

# torch.compile's modes, for trainer.compile_mode.
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune-no-cudagraphs", "max-autotune")


class ColorBatch(NamedTuple):
    rgb: Tensor  # (B, 3, H, W) float in [0, 1]
    lightness: Tensor  # (B, 1, H, W) normalised L in [-1, 1]
    chroma: Tensor  # (B, 2, H, W) normalised chroma in [-1, 1]


def encode_batch(space: ColorSpace, batch: Tensor) -> ColorBatch:
    """A batch of RGB crops (uint8, or float in [0, 1]) as the model sees it, converted on its device."""
    rgb = batch.float() / 255.0 if batch.dtype == torch.uint8 else batch
    lightness, chroma = space.encode(rgb)
    return ColorBatch(rgb, lightness, chroma)


class ColorizerModule(L.LightningModule):
    """Predicts normalised chroma from normalised L in one colour space.

    ``model`` is the model config as a plain dict, ``space`` the space's name. Both are
    saved in every checkpoint, so a checkpoint rebuilds its own network.
    """

    # Set by subclasses whose training step leaves some parameters unused under DDP.
    ddp_find_unused_parameters = False

    def __init__(self, model: dict, space: str, net: nn.Module | None = None) -> None:
        super().__init__()
        self.save_hyperparameters(ignore=["net"], logger=False)
        self.model_cfg = OmegaConf.create(model)
        self.space = get_space(space)
        # Rebuilt from a checkpoint: the architecture only; its state dict is loaded next.
        self.net = net if net is not None else self.build_net(self.model_cfg, self.space, load_weights=False).net
        self.val_metrics = color_metrics("val/")
        self.encode_batch = partial(encode_batch, self.space)  # compiled by compile_networks()

    @staticmethod
    def body(model_cfg: Any) -> str:
        """The body (:data:`~colorize.models.bodies.BODIES`) of ``net``: a regression family's own name."""
        return model_cfg.name

    @classmethod
    def build_net(cls, model_cfg: Any, space: ColorSpace, load_weights: bool) -> Built:
        """``net``, mapping normalised L to normalised chroma. ``load_weights=False``: the architecture only."""
        return build_body(cls.body(model_cfg), model_cfg, out_channels=2, load_weights=load_weights)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint[checkpoints.MARKER] = checkpoints.marker()

    def forward(self, lightness: Tensor) -> Tensor:
        return self.net(lightness)

    def networks(self) -> list[nn.Module]:
        """The networks that train."""
        return [self.net]

    def compile_networks(self, mode: str = "default") -> None:
        """``torch.compile`` the networks in place (their state dict keys stay the same) and the colour conversion."""
        for net in self.networks():
            net.compile(mode=mode)
        self.encode_batch = torch.compile(self.encode_batch, mode=mode)

    def on_train_epoch_start(self) -> None:
        freeze_for_epoch(self.net, self.model_cfg, self.current_epoch)  # a pretrained encoder's first epochs

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> ColorBatch:
        return self.encode_batch(batch)

    @torch.no_grad()
    def colorize(self, lightness: Tensor) -> Tensor:
        """Normalised L -> RGB in [0, 1]."""
        return self.space.decode(lightness, self(lightness))

    def validation_step(self, batch: ColorBatch, batch_idx: int) -> dict[str, Tensor]:
        chroma_hat = self(batch.lightness)
        self.log("val/l1", F.l1_loss(chroma_hat.float(), batch.chroma), sync_dist=True, batch_size=len(batch.rgb))
        rgb_hat = self.space.decode_in_gamut(batch.lightness, chroma_hat)
        self.val_metrics.update(rgb_hat, batch.rgb)
        self.log_dict(self.val_metrics, batch_size=len(batch.rgb))
        return {"rgb_hat": rgb_hat}
