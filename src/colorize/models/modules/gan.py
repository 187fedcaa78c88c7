"""How ``gan`` trains: pix2pix's alternating D and G steps, and its warm start from a trained generator."""

from __future__ import annotations

import math
from functools import partial
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.optim import Adam, Optimizer
from torch.optim.lr_scheduler import LambdaLR, LRScheduler

from colorize.models.gan import LR_SCHEDULES
from colorize.models.modules.base import ColorBatch, ColorizerModule
from colorize.models.modules.finetuning import parameter_groups
from colorize.models.modules.warm_start import create_warm_started
from colorize.networks.colorizer import Colorizer, hint_encoder
from colorize.networks.losses import gan_loss
from colorize.networks.patchgan import PatchDiscriminator
from colorize.options import ConfigError


def planned_batches(trainer: L.Trainer, d_warmup_steps: int) -> int:
    """The training batches of this fit.

    Under manual optimisation ``trainer.max_steps`` counts optimiser steps: one per batch while
    D warms up alone, two (D and G) after.
    """
    batches = trainer.estimated_stepping_batches  # by max_epochs, capped at max_steps
    steps = trainer.max_steps
    if steps >= 0:
        batches = min(batches, steps if steps <= d_warmup_steps else d_warmup_steps + math.ceil((steps - d_warmup_steps) / 2))
    if math.isinf(batches):
        raise ConfigError(
            "model=gan schedules its learning rates over the whole run: set trainer.max_epochs or trainer.max_steps, "
            "or model.g_scheduler=none model.d_scheduler=none."
        )
    return max(1, int(batches))


class GANColorizer(ColorizerModule):
    """G (``self.net``) maps L to chroma; D, a PatchGAN, tells (L, chroma) from (L, G(L)) in the normalised space.

    With colour hints (``model.hints``) both G and D are conditioned on them: D has its own hint encoder, so its
    condition is L and the hints as G sees them (its own projection of a global hint).

    Each batch D steps on ``(GAN(D(L, chroma), real) + GAN(D(L, G(L)), fake)) / 2``, then G steps on
    ``GAN(D(L, G(L)), real) + lambda_l1 * L1(G(L), chroma)``, as in pix2pix. During the first
    ``d_warmup_steps`` batches only D steps. Validation is the base class's, the same as every model's.
    """

    # Each backward reaches only G's or only D's parameters; DDP must expect the others to be unused.
    ddp_find_unused_parameters = True

    def __init__(self, model: dict, space: str, net: Colorizer | None = None) -> None:
        super().__init__(model, space, net)
        cfg = self.model_cfg
        self.condition = hint_encoder(self.net.spec, self.net.global_length)  # None without hints: D's condition is L alone
        extra = self.condition.extra_channels if self.condition is not None else 0
        self.discriminator = PatchDiscriminator(in_channels=1 + extra + 2, ndf=cfg.ndf, n_layers=cfg.n_layers, norm=cfg.d_norm)
        self.gan_loss = partial(gan_loss, mode=cfg.gan_mode)
        self.automatic_optimization = False

    @classmethod
    def create(cls, cfg: Any) -> tuple[GANColorizer, str]:
        """With ``model.generator_ckpt``, G starts from that trained generator (a resumed run, from its checkpoint)."""
        if not cfg.model.generator_ckpt:
            return super().create(cfg)
        return create_warm_started(cls, cfg, "generator_ckpt", "generator", heads=("chroma",))  # NoGAN

    def networks(self) -> list[torch.nn.Module]:
        return [self.net, self.discriminator]

    def discriminator_parameters(self) -> list[torch.nn.Parameter]:
        condition = list(self.condition.parameters()) if self.condition is not None else []
        return [*self.discriminator.parameters(), *condition]

    def discriminate(self, batch: ColorBatch, chroma: Tensor) -> Tensor:
        condition = batch.lightness if self.condition is None else self.condition(batch.lightness, *batch.hints)
        return self.discriminator(torch.cat([condition, chroma], dim=1))

    def training_step(self, batch: ColorBatch, batch_idx: int) -> None:
        cfg = self.model_cfg
        size = min(batch.lightness.shape[-2:])
        if size < self.discriminator.min_input_size:
            raise ConfigError(
                f"Training crops of {size} px are too small for the PatchGAN with model.n_layers={cfg.n_layers}, "
                f"which needs at least {self.discriminator.min_input_size} px: raise data.crop_size or lower model.n_layers."
            )
        opt_g, opt_d = self.optimizers()
        sched_g, sched_d = self.lr_schedulers()
        # global_step counts optimiser steps; while D warms up there is one per batch.
        warming_up = self.global_step < cfg.d_warmup_steps
        n = len(batch.rgb)

        batch = self.with_hints(batch, batch_idx)
        with torch.set_grad_enabled(not warming_up):
            fake = self(batch.lightness, batch.hints)

        self.toggle_optimizer(opt_d)
        d_real = self.discriminate(batch, batch.chroma)
        d_fake = self.discriminate(batch, fake.detach())
        d_loss = 0.5 * (self.gan_loss(d_real, real=True) + self.gan_loss(d_fake, real=False))
        self._step(opt_d, d_loss, sched_d)
        self.untoggle_optimizer(opt_d)
        self.log("train/d_loss", d_loss, prog_bar=True, batch_size=n)
        self.log_dict({"train/d_real": d_real.float().mean(), "train/d_fake": d_fake.float().mean()}, batch_size=n)
        if warming_up:
            return

        self.toggle_optimizer(opt_g)
        g_gan = self.gan_loss(self.discriminate(batch, fake), real=True, for_discriminator=False)
        g_l1 = F.l1_loss(fake.float(), batch.chroma)
        g_loss = g_gan + cfg.lambda_l1 * g_l1 + self.rgb_losses(batch, fake.float())
        self._step(opt_g, g_loss, sched_g)
        self.untoggle_optimizer(opt_g)
        self.log("train/g_loss", g_loss, prog_bar=True, batch_size=n)
        self.log_dict({"train/g_gan": g_gan, "train/g_l1": g_l1}, batch_size=n)

    def _step(self, optimizer: Optimizer, loss: Tensor, scheduler: LRScheduler) -> None:
        optimizer.zero_grad(set_to_none=True)
        self.manual_backward(loss)
        if self.model_cfg.gradient_clip_val:
            self.clip_gradients(optimizer, gradient_clip_val=self.model_cfg.gradient_clip_val, gradient_clip_algorithm="norm")
        optimizer.step()
        scheduler.step()

    def configure_optimizers(self):
        cfg = self.model_cfg
        betas = tuple(cfg.betas)
        opt_g = Adam(parameter_groups(self.net, cfg, cfg.g_lr), lr=cfg.g_lr, betas=betas)
        opt_d = Adam(self.discriminator_parameters(), lr=cfg.d_lr, betas=betas)
        d_batches = 1
        if (cfg.g_scheduler, cfg.d_scheduler) != ("none", "none"):
            d_batches = planned_batches(self.trainer, cfg.d_warmup_steps)
        g_batches = max(1, d_batches - cfg.d_warmup_steps)  # G steps only after D's warm-up

        def schedule(optimizer: Optimizer, kind: str, total: int, name: str) -> dict:
            shape = LR_SCHEDULES[kind]
            return {"scheduler": LambdaLR(optimizer, lambda step: shape(min(step / total, 1.0))), "name": name}

        return [opt_g, opt_d], [
            schedule(opt_g, cfg.g_scheduler, g_batches, "lr-generator"),
            schedule(opt_d, cfg.d_scheduler, d_batches, "lr-discriminator"),
        ]
