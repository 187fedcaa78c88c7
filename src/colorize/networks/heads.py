"""Heads: what a colorizer's body features become. Reusable over every body, as segmentation_models_pytorch's heads are."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from colorize.networks.bins import annealed_mean


class ChromaHead(nn.Sequential):
    """Normalised chroma (B, 2, H, W) in [-1, 1]: a 3x3 conv and tanh."""

    def __init__(self, in_channels: int) -> None:
        super().__init__(nn.Conv2d(in_channels, 2, 3, padding=1), nn.Tanh())


class BinHead(nn.Module):
    """One logit per chroma bin (a 1x1 conv), decoded to normalised chroma by the annealed mean (Zhang et al. 2016).

    ``centres`` (Q, 2) are the bins in the space's physical units, a buffer that checkpoints carry; ``offset`` and
    ``scale`` are the space's chroma normalisation. With ``stride`` s > 1 the logits are predicted for blocks of s x s
    pixels (the features averaged over each block, the input padded to a multiple of s by repeating its edge), and the
    decoded chroma is resized back bilinearly, as Zhang et al. predict 64^2 bins for a 256^2 photo: the Q-way softmax,
    its targets and its decoding cost 1/s^2 as much.
    """

    def __init__(
        self,
        in_channels: int,
        centres: Tensor,
        offset: tuple[float, float],
        scale: tuple[float, float],
        temperature: float,
        stride: int = 1,
    ):
        super().__init__()
        self.logits = nn.Conv2d(in_channels, len(centres), 1)
        self.register_buffer("centres", centres.float())
        self.register_buffer("offset", torch.tensor(offset), persistent=False)
        self.register_buffer("scale", torch.tensor(scale), persistent=False)
        self.temperature = temperature
        self.stride = stride

    def forward(self, features: Tensor) -> Tensor:
        return self.decode(self.bin_logits(features), features.shape[-2:])

    def blocks(self, x: Tensor) -> Tensor:
        """``x`` (B, C, H, W) averaged over blocks of ``stride`` x ``stride`` pixels (B, C, ceil(H/s), ceil(W/s))."""
        s = self.stride
        if s == 1:
            return x
        return F.avg_pool2d(F.pad(x, (0, -x.shape[-1] % s, 0, -x.shape[-2] % s), mode="replicate"), s)

    def bin_logits(self, features: Tensor) -> Tensor:
        """Logits (B, Q, ceil(H/s), ceil(W/s)) of the body's features (B, C, H, W)."""
        return self.logits(self.blocks(features))

    @torch.no_grad()
    def start_at(self, chroma_head: ChromaHead, sigma: float) -> None:
        """Set the bin logits to a Gaussian of width ``sigma`` (physical chroma units) around what ``chroma_head`` (a
        trained regression head on the same features) predicts, so that this head starts by decoding about as that one
        does (give sigma one bin cell or more: narrower, the annealed mean snaps towards the nearest bin).

        The logits are linear in the features, so the chroma head is taken linear too: its 3x3 kernel summed to a 1x1
        (the features are averaged over blocks first) and its tanh as the identity (near it for the moderate chroma of
        most pixels). With p the physical chroma, -|p - c|^2 / 2 sigma^2 = (p.c - |c|^2 / 2) / sigma^2 - |p|^2 / 2 sigma^2,
        and the last term is the same for every bin, so the softmax ignores it.
        """
        conv = chroma_head[0]
        weight, bias = conv.weight.sum(dim=(2, 3)), conv.bias  # normalised chroma = weight @ features + bias
        scaled = self.centres * self.scale  # physical chroma = offset + scale * normalised
        self.logits.weight.copy_((scaled @ weight / sigma**2)[..., None, None])
        self.logits.bias.copy_((self.centres @ self.offset + scaled @ bias - self.centres.square().sum(1) / 2) / sigma**2)

    def decode(self, logits: Tensor, size: tuple[int, int] | None = None) -> Tensor:
        """Bin logits -> normalised chroma, by the annealed mean; resized to ``size`` (the input's) if given."""
        chroma = annealed_mean(logits, (self.centres - self.offset) / self.scale, self.temperature)
        if self.stride == 1 or size is None:
            return chroma
        chroma = F.interpolate(chroma, scale_factor=self.stride, mode="bilinear", align_corners=False)  # centres stay put
        return chroma[..., : size[0], : size[1]]
