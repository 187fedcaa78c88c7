"""``gan``: a pix2pix-style conditional GAN whose generator is a ``cnn`` or ``resnet`` body."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from colorize.models.registry import ModelFamily, ModelOptions, register
from colorize.networks.bodies import BODIES, AnyBodyOptions
from colorize.networks.losses import GAN_MODES
from colorize.options import AT_LEAST_ONE, BETA, NON_NEGATIVE, POSITIVE, option

# Learning-rate factor over training progress in [0, 1]. linear is pix2pix's: constant, then to zero over the second half.
LR_SCHEDULES: dict[str, Callable[[float], float]] = {
    "none": lambda progress: 1.0,
    "linear": lambda progress: min(1.0, 2.0 * (1.0 - progress)),
    "cosine": lambda progress: 0.5 * (1.0 + math.cos(math.pi * progress)),
}
# The discriminator's normalisation (colorize.networks.patchgan): pix2pix's batch or instance norm, or spectral norm.
D_NORMS = ("batch", "instance", "spectral")


def two_betas(value: Any) -> str | None:
    return None if len(value) == 2 else f"must be two numbers, [beta1, beta2], not {len(value)}."


@dataclass
class GANOptions(AnyBodyOptions, ModelOptions):
    """A pix2pix-style conditional GAN: a cnn or resnet generator and a PatchGAN discriminator on (L, chroma)."""

    body: str = option("cnn", choices=BODIES)  # the generator's body, with that body's options, e.g. model.base_channels
    # Warm start (DeOldify's NoGAN): G's weights from a trained run of the same body and space.
    generator_ckpt: str | None = option(None, warm_start=True)
    # Discriminator: pix2pix's PatchGAN; n_layers=3, ndf=64, batch norm is its 70x70 default.
    n_layers: int = option(3, AT_LEAST_ONE)
    ndf: int = option(64, POSITIVE)
    d_norm: str = option("batch", choices=D_NORMS)
    gan_mode: str = option("vanilla", choices=GAN_MODES)
    lambda_l1: float = option(100.0, NON_NEGATIVE)
    g_lr: float = option(2e-4, POSITIVE)
    d_lr: float = option(2e-4, POSITIVE)
    betas: list[float] = option(range=BETA, check=two_betas, factory=lambda: [0.5, 0.999])
    # linear: constant for the first half of training, then linear to zero (pix2pix's policy).
    g_scheduler: str = option("linear", choices=LR_SCHEDULES)
    d_scheduler: str = option("linear", choices=LR_SCHEDULES)
    d_warmup_steps: int = option(0, NON_NEGATIVE)  # training batches in which only D learns, before G starts
    gradient_clip_val: float | None = option(None, POSITIVE)  # max gradient norm for G and D (the Trainer's is automatic-only)


FAMILY = register(ModelFamily("gan", GANOptions, "colorize.models.modules.gan:GANColorizer"))
