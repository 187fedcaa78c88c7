"""Losses: reconstruction losses on normalised chroma, and the adversarial loss of the GAN.

The tables of choices are plain names, so that the config can offer them without importing torch.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torch import Tensor

# model.loss: each name's torch.nn.functional loss.
RECONSTRUCTION_LOSSES = {"l1": "l1_loss", "l2": "mse_loss", "smooth_l1": "smooth_l1_loss"}
# model.gan_mode: see gan_loss.
GAN_MODES = ("vanilla", "lsgan", "hinge")


def reconstruction_loss(name: str) -> Callable[[Tensor, Tensor], Tensor]:
    import torch.nn.functional as F

    return getattr(F, RECONSTRUCTION_LOSSES[name])


def gan_loss(prediction: Tensor, real: bool, mode: str, for_discriminator: bool = True) -> Tensor:
    """The adversarial loss on a discriminator's raw outputs (logits), as pix2pix's ``GANLoss``.

    ``vanilla``: binary cross-entropy; ``lsgan``: least squares; ``hinge``: hinge loss for D and
    ``-D(fake)`` for G. ``real`` says whether the target is "real"; ``for_discriminator`` picks
    D's or G's form where they differ (hinge).
    """
    import torch
    import torch.nn.functional as F

    if mode not in GAN_MODES:
        raise ValueError(f"mode must be one of {GAN_MODES}, not {mode!r}")
    prediction = prediction.float()
    if mode == "hinge":
        if not for_discriminator:
            return -prediction.mean()
        return F.relu(1.0 - prediction).mean() if real else F.relu(1.0 + prediction).mean()
    target = torch.full_like(prediction, 1.0 if real else 0.0)
    if mode == "vanilla":
        return F.binary_cross_entropy_with_logits(prediction, target)
    return F.mse_loss(prediction, target)
