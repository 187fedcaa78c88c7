"""``gan``: a pix2pix-style conditional GAN whose generator is a ``cnn`` or ``resnet`` network."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.optim import Adam, Optimizer
from torch.optim.lr_scheduler import LambdaLR, LRScheduler

from colorize.models.base import ColorBatch, ColorizerModule
from colorize.models.bodies import BODIES, AnyBodyOptions
from colorize.models.finetuning import parameter_groups
from colorize.models.registry import ModelFamily, ModelOptions, register
from colorize.networks.losses import GANLoss
from colorize.networks.patchgan import NORMS, PatchDiscriminator
from colorize.options import AT_LEAST_ONE, BETA, NON_NEGATIVE, POSITIVE, ConfigError, option

# Learning-rate factor over training progress in [0, 1]. linear is pix2pix's: constant, then to zero over the second half.
LR_SCHEDULES: dict[str, Callable[[float], float]] = {
    "none": lambda progress: 1.0,
    "linear": lambda progress: min(1.0, 2.0 * (1.0 - progress)),
    "cosine": lambda progress: 0.5 * (1.0 + math.cos(math.pi * progress)),
}


def two_betas(value: Any) -> str | None:
    return None if len(value) == 2 else f"must be two numbers, [beta1, beta2], not {len(value)}."


@dataclass
class GANOptions(AnyBodyOptions, ModelOptions):
    """A pix2pix-style conditional GAN: a cnn or resnet generator and a PatchGAN discriminator on (L, chroma)."""

    generator: str = option("cnn", choices=BODIES)  # with that body's options, e.g. model.base_channels
    # Warm start (DeOldify's NoGAN): G's weights from a trained run of the same generator and space.
    generator_ckpt: str | None = None
    # Discriminator: pix2pix's PatchGAN; n_layers=3, ndf=64, batch norm is its 70x70 default.
    n_layers: int = option(3, AT_LEAST_ONE)
    ndf: int = option(64, POSITIVE)
    d_norm: str = option("batch", choices=NORMS)
    gan_mode: str = option("vanilla", choices=GANLoss.MODES)
    lambda_l1: float = option(100.0, NON_NEGATIVE)
    g_lr: float = option(2e-4, POSITIVE)
    d_lr: float = option(2e-4, POSITIVE)
    betas: list[float] = option(range=BETA, check=two_betas, factory=lambda: [0.5, 0.999])
    # linear: constant for the first half of training, then linear to zero (pix2pix's policy).
    g_scheduler: str = option("linear", choices=LR_SCHEDULES)
    d_scheduler: str = option("linear", choices=LR_SCHEDULES)
    d_warmup_steps: int = option(0, NON_NEGATIVE)  # training batches in which only D learns, before G starts
    gradient_clip_val: float | None = option(None, POSITIVE)  # max gradient norm for G and D (the Trainer's is automatic-only)


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

    Each batch D steps on ``(GAN(D(L, chroma), real) + GAN(D(L, G(L)), fake)) / 2``, then G steps on
    ``GAN(D(L, G(L)), real) + lambda_l1 * L1(G(L), chroma)``, as in pix2pix. During the first
    ``d_warmup_steps`` batches only D steps. Validation is the base class's, the same as every model's.
    """

    # Each backward reaches only G's or only D's parameters; DDP must expect the others to be unused.
    ddp_find_unused_parameters = True

    def __init__(self, model: dict, space: str, net: torch.nn.Module | None = None) -> None:
        super().__init__(model, space, net)
        cfg = self.model_cfg
        self.discriminator = PatchDiscriminator(in_channels=1 + 2, ndf=cfg.ndf, n_layers=cfg.n_layers, norm=cfg.d_norm)
        self.gan_loss = GANLoss(cfg.gan_mode)
        self.automatic_optimization = False

    @staticmethod
    def body(model_cfg: Any) -> str:
        return model_cfg.generator

    def networks(self) -> list[torch.nn.Module]:
        return [self.net, self.discriminator]

    def discriminate(self, lightness: Tensor, chroma: Tensor) -> Tensor:
        return self.discriminator(torch.cat([lightness, chroma], dim=1))

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

        with torch.set_grad_enabled(not warming_up):
            fake = self(batch.lightness)

        self.toggle_optimizer(opt_d)
        d_real = self.discriminate(batch.lightness, batch.chroma)
        d_fake = self.discriminate(batch.lightness, fake.detach())
        d_loss = 0.5 * (self.gan_loss(d_real, real=True) + self.gan_loss(d_fake, real=False))
        self._step(opt_d, d_loss, sched_d)
        self.untoggle_optimizer(opt_d)
        self.log("train/d_loss", d_loss, prog_bar=True, batch_size=n)
        self.log_dict({"train/d_real": d_real.float().mean(), "train/d_fake": d_fake.float().mean()}, batch_size=n)
        if warming_up:
            return

        self.toggle_optimizer(opt_g)
        g_gan = self.gan_loss(self.discriminate(batch.lightness, fake), real=True, for_discriminator=False)
        g_l1 = F.l1_loss(fake.float(), batch.chroma)
        g_loss = g_gan + cfg.lambda_l1 * g_l1
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
        opt_d = Adam(self.discriminator.parameters(), lr=cfg.d_lr, betas=betas)
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


FAMILY = register(ModelFamily("gan", GANOptions, GANColorizer))
