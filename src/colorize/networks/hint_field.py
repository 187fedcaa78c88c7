"""Local hints spread over the image, and the paths by which a network uses them (issue 29, part 1).

A handful of hint patches is almost nothing to a network that sees them as isolated pixels at its input: it must learn,
through its whole depth, to carry a patch's colour to the region around it. Three things shorten that path:

* :class:`HintField`, the **dense hint field**: the sparse hints spread by normalised convolution (Knutsson & Westin
  1993): ``blur(hint * mask) / blur(mask)`` with Gaussians of a few widths ``sigmas`` (pixels of the image the network
  sees), and over the whole image, each with its confidence, which grows from 0 (no hint near) towards 1. Nothing in
  it learns; the blurs are fixed separable convolutions on an image pyramid (the wide ones at 1/r resolution), so it
  costs little at any size and exports to ONNX. Each scale gives 3 channels: the field times its confidence (2) and
  the confidence (1), so that *no hint is all zeros*.
* :class:`DecoderHints`: those channels reach every decoder stage of the body, each through a 1x1 convolution that
  starts at zero and has no bias: a body computes what it did until it learns to use them, and with no hint exactly.
* :class:`HintBlend`, an output path that can **copy a hint's chroma**: the colorizer's output is a weighted mean of its
  own prediction (weight 1) and each scale's field (weight ``confidence * exp(logit)``), the logits a learned
  function of the body's features and the field. Where no hint is near, every confidence is 0, so the output is the
  network's own prediction, exactly, whatever the blend learned; the mean of values in [-1, 1] stays in [-1, 1].

Which of them a colorizer uses is :class:`~colorize.networks.hint_options.HintOptions`' ``hint_field`` and
``hint_blend``; a checkpoint from before these options uses neither.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

# What a colorizer adds to a body's decoder stage (its ``stage_channels``): (stage, its output) -> the output to go on with.
Injection = Callable[[int, Tensor], Tensor]

# A level of the pyramid blurs with sigma / r of about this many pixels: a 13-tap kernel (3 sigma each side).
LEVEL_SIGMA = 2.0
# A confidence of 1 - 1/e where the hinted pixels near a point weigh as much as a patch of this many pixels at it.
CONFIDENT_PIXELS = 16.0
# Below this blurred mask (a density in [0, 1]) the field fades to 0 instead of dividing by nearly nothing.
DENSITY_FLOOR = 1e-6
# The blend's logits are kept within +-LOGIT_BOUND, so that exp() stays finite and 0 confidence stays 0 weight.
LOGIT_BOUND = 6.0


def gaussian_taps(sigma: float) -> Tensor:
    """A normalised 1-D Gaussian of ``sigma`` pixels, 3 sigma each side."""
    radius = max(1, math.ceil(3 * sigma))
    x = torch.arange(-radius, radius + 1, dtype=torch.float64)
    taps = torch.exp(-0.5 * (x / sigma) ** 2)
    return (taps / taps.sum()).float()


def pyramid_factor(sigma: float) -> int:
    """The power of 2 by which a blur of ``sigma`` pixels is taken at reduced resolution (1: at full resolution)."""
    return 2 ** max(0, math.floor(math.log2(sigma / LEVEL_SIGMA)))


class DenseHints(NamedTuple):
    """The field of each scale (B, 2 S, H, W), normalised chroma, and its confidence (B, S, H, W) in [0, 1)."""

    field: Tensor
    confidence: Tensor

    def features(self) -> Tensor:
        """What a network sees (B, 3 S, H, W): per scale the field times its confidence, then the confidence."""
        scales = self.confidence.shape[1]
        field = self.field.unflatten(1, (scales, 2)) * self.confidence[:, :, None]
        return torch.cat([field, self.confidence[:, :, None]], dim=2).flatten(1, 2)


class HintField(nn.Module):
    """Hint map (B, 2, H, W) and mask (B, 1, H, W) -> :class:`DenseHints` at ``sigmas`` (pixels), then the whole image."""

    def __init__(self, sigmas: Sequence[float]) -> None:
        super().__init__()
        self.sigmas = [float(s) for s in sigmas]
        self.factors = [pyramid_factor(s) for s in self.sigmas]
        for i, (sigma, factor) in enumerate(zip(self.sigmas, self.factors, strict=True)):
            self.register_buffer(f"taps{i}", gaussian_taps(sigma / factor), persistent=False)

    @property
    def scales(self) -> int:
        return len(self.sigmas) + 1

    @property
    def channels(self) -> int:
        """Channels of :meth:`DenseHints.features`."""
        return 3 * self.scales

    def blur(self, maps: Tensor, index: int) -> Tensor:
        """Gaussian blur of ``maps`` at scale ``index``, zero outside the image (so no hint there): on a pyramid level
        of 1/r resolution (sums of r x r blocks over the r^2 pixels), then bilinearly back to full size."""
        factor, taps = self.factors[index], getattr(self, f"taps{index}")
        height, width = maps.shape[-2], maps.shape[-1]
        if factor > 1:
            pad_h, pad_w = (factor - height % factor) % factor, (factor - width % factor) % factor
            maps = F.avg_pool2d(F.pad(maps, (0, pad_w, 0, pad_h)), factor)
        channels, radius = maps.shape[1], taps.numel() // 2
        rows = taps.to(maps.dtype).view(1, 1, -1, 1).expand(channels, 1, -1, 1)
        maps = F.conv2d(maps, rows, padding=(radius, 0), groups=channels)
        maps = F.conv2d(maps, rows.transpose(2, 3), padding=(0, radius), groups=channels)
        if factor > 1:
            size = (maps.shape[-2] * factor, maps.shape[-1] * factor)
            maps = F.interpolate(maps, size=size, mode="bilinear", align_corners=False)[..., :height, :width]
        return maps

    def forward(self, hint: Tensor, mask: Tensor) -> DenseHints:
        mask = mask.to(hint.dtype)
        weighted = torch.cat([hint * mask, mask], dim=1)
        fields, confidences = [], []
        for i, sigma in enumerate(self.sigmas):
            blurred = self.blur(weighted, i)
            density = blurred[:, 2:]
            fields.append(blurred[:, :2] / density.clamp(min=DENSITY_FLOOR))
            confidences.append(1 - torch.exp(-density * (2 * math.pi * sigma**2 / CONFIDENT_PIXELS)))
        # The whole image: the mean colour of every hint.
        total = weighted.sum(dim=(-2, -1), keepdim=True)
        count = total[:, 2:]
        fields.append((total[:, :2] / count.clamp(min=1.0)).expand_as(hint))
        confidences.append((1 - torch.exp(-count / CONFIDENT_PIXELS)).expand_as(mask))
        return DenseHints(torch.cat(fields, dim=1), torch.cat(confidences, dim=1))


class DecoderHints(nn.Module):
    """The dense hint features added to each decoder stage of a body (``widths``: each stage's channels), resized to it,
    through a 1x1 convolution without bias that starts at zero."""

    def __init__(self, channels: int, widths: Sequence[int]) -> None:
        super().__init__()
        self.projections = nn.ModuleList(nn.Conv2d(channels, width, 1, bias=False) for width in widths)
        for projection in self.projections:
            nn.init.zeros_(projection.weight)

    def forward(self, features: Tensor, stage: int, x: Tensor) -> Tensor:
        if features.shape[-2:] != x.shape[-2:]:
            features = F.interpolate(features, size=x.shape[-2:], mode="bilinear", align_corners=False)
        return x + self.projections[stage](features.to(x.dtype))


class HintBlend(nn.Module):
    """Chroma (B, 2, H, W) pulled towards the dense hint field where it is confident: a weighted mean of the prediction
    (weight 1) and each scale's field (weight ``confidence * exp(logit)``); the logits are a 3x3 convolution of the body's
    features and the dense hint features, starting at zero weights and ``initial_logit``."""

    def __init__(self, body_channels: int, scales: int, initial_logit: float = 0.0) -> None:
        super().__init__()
        self.logits = nn.Conv2d(body_channels + 3 * scales, scales, 3, padding=1)
        nn.init.zeros_(self.logits.weight)
        nn.init.constant_(self.logits.bias, initial_logit)

    def forward(self, chroma: Tensor, body_features: Tensor, dense: DenseHints) -> Tensor:
        logits = self.logits(torch.cat([body_features, dense.features().to(body_features.dtype)], dim=1)).float()
        weights = dense.confidence.float() * torch.exp(LOGIT_BOUND * torch.tanh(logits / LOGIT_BOUND))  # (B, S, H, W)
        fields = dense.field.float().unflatten(1, (-1, 2))  # (B, S, 2, H, W)
        blended = chroma.float() + (weights[:, :, None] * fields).sum(dim=1)
        return (blended / (1 + weights.sum(dim=1, keepdim=True))).to(chroma.dtype)


class HintPaths(nn.Module):
    """The dense hint field of a colorizer, and the paths it takes: into every decoder stage of the body (``stages``: their
    channels; None: not) and through the output blend (``blend_channels``: the body's output channels; None: not)."""

    def __init__(self, sigmas: Sequence[float], stages: Sequence[int] | None, blend_channels: int | None) -> None:
        super().__init__()
        self.field = HintField(sigmas)
        self.decoder = DecoderHints(self.field.channels, stages) if stages is not None else None
        self.blend = HintBlend(blend_channels, self.field.scales) if blend_channels is not None else None

    def injection(self, dense: DenseHints) -> Injection | None:
        """What the body adds to its decoder stages, for these hints."""
        if self.decoder is None:
            return None
        features, decoder = dense.features(), self.decoder
        return lambda stage, x: decoder(features, stage, x)
