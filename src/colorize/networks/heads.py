"""Heads: what a colorizer's body features become. Reusable over every body, as segmentation_models_pytorch's heads are."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from colorize.networks.bins import annealed_mean


class ChromaHead(nn.Sequential):
    """Normalised chroma (B, 2, H, W) in [-1, 1]: a 3x3 conv and tanh."""

    def __init__(self, in_channels: int) -> None:
        super().__init__(nn.Conv2d(in_channels, 2, 3, padding=1), nn.Tanh())


class BinHead(nn.Module):
    """One logit per chroma bin (a 1x1 conv), decoded to normalised chroma by the annealed mean (Zhang et al. 2016).

    ``centres`` (Q, 2) are the bins in the space's physical units, a buffer that checkpoints carry; ``offset`` and
    ``scale`` are the space's chroma normalisation.
    """

    def __init__(
        self, in_channels: int, centres: Tensor, offset: tuple[float, float], scale: tuple[float, float], temperature: float
    ):
        super().__init__()
        self.logits = nn.Conv2d(in_channels, len(centres), 1)
        self.register_buffer("centres", centres.float())
        self.register_buffer("offset", torch.tensor(offset), persistent=False)
        self.register_buffer("scale", torch.tensor(scale), persistent=False)
        self.temperature = temperature

    def forward(self, features: Tensor) -> Tensor:
        return self.decode(self.logits(features))

    def decode(self, logits: Tensor) -> Tensor:
        """Bin logits -> normalised chroma, by the annealed mean."""
        return annealed_mean(logits, (self.centres - self.offset) / self.scale, self.temperature)
