"""Losses: reconstruction losses on normalised chroma, the adversarial loss of the GAN, and DDColor's colourfulness
loss on decoded RGB (the perceptual loss, which holds a VGG16, is in :mod:`colorize.networks.perceptual`).

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


def colourfulness_loss(rgb: Tensor, eps: float = 1e-8) -> Tensor:
    """DDColor's colourfulness loss on RGB in [0, 1]: 1 - CF, averaged over the images of the batch.

    CF is Hasler & Süsstrunk's with DDColor's absolute values (rg = |R - G|, yb = |(R + G) / 2 - B|) and
    sample standard deviations, on the 0..1 scale (:func:`colorize.metrics.colourfulness` / 255, near enough).
    DDColor sums over the batch (weight 0.5 at batch 4, i.e. 2 on this mean). ``eps`` keeps the square
    roots differentiable on grey images, where DDColor's gradient is NaN.
    """
    import torch

    r, g, b = rgb.float().unbind(-3)
    rg, yb = (r - g).abs().flatten(-2), ((r + g) / 2 - b).abs().flatten(-2)
    spread = torch.sqrt(rg.var(dim=-1) + yb.var(dim=-1) + eps)
    level = torch.sqrt(rg.mean(dim=-1) ** 2 + yb.mean(dim=-1) ** 2 + eps)
    return (1 - (spread + 0.3 * level)).mean()
