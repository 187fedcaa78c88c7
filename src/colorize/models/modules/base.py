"""What every family's LightningModule shares: the colorizer it trains, the colour space, the batch, validation metrics."""

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
from colorize.models.modules.finetuning import freeze_for_epoch
from colorize.models.modules.hint_simulation import hint_generator, simulate_hints
from colorize.models.registry import get_family
from colorize.networks.colorizer import Colorizer, ColorizerSpec, build_colorizer
from colorize.networks.hints import Hints
from colorize.networks.losses import colourfulness_loss
from colorize.spaces import ColorSpace, get_space


class ColorBatch(NamedTuple):
    rgb: Tensor  # (B, 3, H, W) float in [0, 1]
    lightness: Tensor  # (B, 1, H, W) normalised L in [-1, 1]
    chroma: Tensor  # (B, 2, H, W) normalised chroma in [-1, 1]
    hints: Hints | None = None  # the colour hints the model takes (model.hints), simulated from the batch


# The seed of validation's hints in place of the data seed: every run sees the same hints on the same val batches.
VALIDATION_HINTS_SEED = -1


def encode_batch(space: ColorSpace, batch: Tensor) -> ColorBatch:
    """A batch of RGB crops (uint8, or float in [0, 1]) as the model sees it, converted on its device."""
    rgb = batch.float() / 255.0 if batch.dtype == torch.uint8 else batch
    lightness, chroma = space.encode(rgb)
    return ColorBatch(rgb, lightness, chroma)


def colorizer_spec(model: Any, space: str) -> ColorizerSpec:
    """How the colorizer of ``model`` (its options) in ``space`` is built."""
    return get_family(model["name"]).spec(model, space)


class ColorizerModule(L.LightningModule):
    """Trains a :class:`~colorize.networks.colorizer.Colorizer` (``self.net``): normalised L -> normalised chroma.

    ``model`` is the model config as a plain dict, ``space`` the space's name. Both are
    saved in every checkpoint, so a checkpoint rebuilds its own colorizer.
    """

    # Set by subclasses whose training step leaves some parameters unused under DDP.
    ddp_find_unused_parameters = False

    def __init__(self, model: dict, space: str, net: Colorizer | None = None) -> None:
        super().__init__()
        self.save_hyperparameters(ignore=["net"], logger=False)
        self.model_cfg = OmegaConf.create(model)
        self.space = get_space(space)
        # Rebuilt from a checkpoint: the architecture only; its state dict is loaded next.
        self.net = net if net is not None else build_colorizer(colorizer_spec(model, space)).net
        self.val_metrics = color_metrics("val/")
        self.encode_batch = partial(encode_batch, self.space)  # compiled by compile_networks()
        self.perceptual = None
        if self.model_cfg.get("perceptual_weight"):  # a checkpoint from before these options has none
            from colorize.networks.perceptual import VGGPerceptualLoss

            self.perceptual = VGGPerceptualLoss()

    @classmethod
    def create(cls, cfg: Any) -> tuple[ColorizerModule, str | None]:
        """The module of a run's config, its colorizer's weights as configured, and how they were initialised (what the
        run records as ``model.init``; the module's own hyperparameters hold it too). ``cfg`` is left as it is.

        A resumed run gets all its weights from its checkpoint, and keeps its saved ``model.init``.
        """
        model = OmegaConf.to_container(cfg.model, resolve=True)
        net, init = build_colorizer(colorizer_spec(model, cfg.space.name), load_weights=not cfg.resume)
        model["init"] = model.get("init") if cfg.resume else init
        return cls(model=model, space=cfg.space.name, net=net), model["init"]

    @property
    def uses_rgb_losses(self) -> bool:
        return bool(self.model_cfg.get("perceptual_weight") or self.model_cfg.get("colourfulness_weight"))

    def rgb_losses(self, batch: ColorBatch, chroma: Tensor) -> Tensor:
        """``model.perceptual_weight`` x the perceptual loss + ``model.colourfulness_weight`` x the colourfulness loss,
        on the RGB that the batch's L and ``chroma`` (normalised, predicted) decode to; 0 when neither is set."""
        cfg, size = self.model_cfg, len(batch.rgb)
        total = chroma.new_zeros((), dtype=torch.float32)
        if not self.uses_rgb_losses:
            return total
        rgb = self.space.decode(batch.lightness, chroma)
        if self.perceptual is not None:
            loss = self.perceptual(rgb, batch.rgb)
            self.log("train/perceptual", loss, batch_size=size)
            total = total + cfg.perceptual_weight * loss
        if cfg.get("colourfulness_weight"):
            loss = colourfulness_loss(rgb)
            self.log("train/colourfulness", loss, batch_size=size)
            total = total + cfg.colourfulness_weight * loss
        return total

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint[checkpoints.MARKER] = checkpoints.marker()

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        if checkpoints.MARKER in checkpoint:  # a run resumed from an older checkpoint format
            checkpoints.upgrade(checkpoint)

    def forward(self, lightness: Tensor, hints: Hints | None = None) -> Tensor:
        return self.net(lightness) if hints is None else self.net(lightness, *hints)

    def with_hints(self, batch: ColorBatch, batch_idx: int) -> ColorBatch:
        """The batch with the hints the model takes, simulated from its true colours (as it is, for a model without).

        In training they are drawn from (data seed, global step, rank), so a resumed run draws what it would have drawn;
        in validation from (VALIDATION_HINTS_SEED, batch index, rank), the same in every run.
        """
        if self.net.hint_encoder is None:
            return batch
        if self.training:
            seed = getattr(self.trainer.datamodule, "seed", 0)  # no datamodule: fit(module, dataloader)
            generator = hint_generator(seed, self.global_step, self.global_rank)
        else:
            generator = hint_generator(VALIDATION_HINTS_SEED, batch_idx, self.global_rank)
        hints = simulate_hints(self.model_cfg, batch.chroma, batch.rgb, self.space, self.net.hint_bins, generator)
        return batch._replace(hints=hints)

    def networks(self) -> list[nn.Module]:
        """The networks that train."""
        return [self.net]

    def compile_networks(self, mode: str = "default") -> None:
        """``torch.compile`` the networks in place (their state dict keys stay the same) and the colour conversion."""
        for net in self.networks():
            net.compile(mode=mode)
        self.encode_batch = torch.compile(self.encode_batch, mode=mode)

    def on_train_epoch_start(self) -> None:
        freeze_for_epoch(self.net.body, self.model_cfg, self.current_epoch)  # a pretrained encoder's first epochs

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> ColorBatch:
        return self.encode_batch(batch)

    @torch.no_grad()
    def colorize(self, lightness: Tensor) -> Tensor:
        """Normalised L -> RGB in [0, 1]."""
        return self.space.decode(lightness, self(lightness))

    def validation_step(self, batch: ColorBatch, batch_idx: int) -> dict[str, Tensor]:
        batch = self.with_hints(batch, batch_idx)
        chroma_hat = self(batch.lightness, batch.hints)
        self.log("val/l1", F.l1_loss(chroma_hat.float(), batch.chroma), sync_dist=True, batch_size=len(batch.rgb))
        rgb_hat = self.space.decode_in_gamut(batch.lightness, chroma_hat)
        self.val_metrics.update(rgb_hat, batch.rgb)
        self.log_dict(self.val_metrics, batch_size=len(batch.rgb))
        return {"rgb_hat": rgb_hat}
