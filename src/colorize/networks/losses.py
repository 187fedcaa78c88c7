"""Losses: reconstruction losses on normalised chroma, and the adversarial loss of the GAN."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

RECONSTRUCTION_LOSSES: dict[str, Callable[[Tensor, Tensor], Tensor]] = {
    "l1": F.l1_loss,
    "l2": F.mse_loss,
    "smooth_l1": F.smooth_l1_loss,
}


class GANLoss(nn.Module):
    """The adversarial loss on a discriminator's raw outputs (logits), as pix2pix's ``GANLoss``.

    ``vanilla``: binary cross-entropy; ``lsgan``: least squares; ``hinge``: hinge loss for D and
    ``-D(fake)`` for G. ``real`` says whether the target is "real"; ``for_discriminator`` picks
    D's or G's form where they differ (hinge).
    """

    MODES = ("vanilla", "lsgan", "hinge")

    def __init__(self, mode: str = "vanilla") -> None:
        super().__init__()
        if mode not in self.MODES:
            raise ValueError(f"mode must be one of {self.MODES}, not {mode!r}")
        self.mode = mode

    def forward(self, prediction: Tensor, real: bool, for_discriminator: bool = True) -> Tensor:
        prediction = prediction.float()
        if self.mode == "hinge":
            if not for_discriminator:
                return -prediction.mean()
            return F.relu(1.0 - prediction).mean() if real else F.relu(1.0 + prediction).mean()
        target = torch.full_like(prediction, 1.0 if real else 0.0)
        if self.mode == "vanilla":
            return F.binary_cross_entropy_with_logits(prediction, target)
        return F.mse_loss(prediction, target)
