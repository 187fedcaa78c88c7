"""Colour hints as a network's inputs (Zhang, Zhu et al., SIGGRAPH 2017, "Real-Time User-Guided Image Colorization").

Two kinds of hint join L at the network's input:

* **local**: a few patches of known colour. The network sees the hint map (2 channels, the hint's
  normalised chroma inside each patch, 0 elsewhere) and the mask (1 inside a patch, 0 elsewhere).
  Zhang feeds ab/110 and the mask minus 0.5 (``mask_cent``); here chroma is already normalised per
  space to [-1, 1] (:class:`~colorize.spaces.ColorSpace`), so Lab and LUV each get their own scale for
  free, and the mask is not centred, so that *no hint is all zeros*: a network widened by
  :func:`colorize.networks.widening.widen_first_conv` then computes exactly what it computed before, with or without
  hints, until it learns to use them.
* **global**: a reference photo's chroma histogram over a space's bins (:mod:`colorize.networks.bins`;
  as Zhang's global_stats net: chroma averaged over 4x4 blocks, each block counted in its nearest bin)
  and its mean HSV saturation, each with a flag that says it is given: the vector
  ``[histogram (Q), histogram flag, saturation, saturation flag]`` of :func:`global_size` ``(Q)`` numbers.
  A dropped part is all zeros. :class:`HintEncoder` projects it (no bias, so a dropped hint stays zero)
  to a few channels broadcast over the image.

Here are the layout of both and the encoder, and the painting of square patches into a hint map (:func:`paint_hints`,
:func:`local_hints`), which training (:mod:`colorize.models.modules.hint_simulation`) and the evaluation's fixed
hints (:mod:`colorize.reports.hint_curves`) share. Hints a person gives are read and painted by
:mod:`colorize.portable` and joined to a colorizer's inputs by :mod:`colorize.inference.hinting`.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from colorize.networks.bins import DEFAULT_GRID, gamut_bins, nearest_bins
from colorize.networks.hint_options import GLOBAL_POOL, HINT_KINDS, LOCAL_CHANNELS
from colorize.spaces import ColorSpace


class HintPoints(NamedTuple):
    """Square patches, (B, K) each: top-left corner, side, and whether the point is used (images have fewer than K)."""

    top: Tensor
    left: Tensor
    side: Tensor
    valid: Tensor

    def to(self, device: torch.device | str) -> HintPoints:
        return HintPoints(*(t.to(device) for t in self))


def _patch_pixels(points: HintPoints, height: int, width: int) -> tuple[Tensor, Tensor]:
    """Each patch's pixels on an S x S grid (S the largest side): flat index and whether inside the patch, (B, K, S, S)."""
    top, left, side, valid = points
    offsets = torch.arange(int(side.max()), device=side.device)
    rows = top[..., None] + offsets  # (B, K, S)
    cols = left[..., None] + offsets
    within = offsets < side[..., None]
    inside = valid[..., None, None] & within[..., :, None] & within[..., None, :]
    index = rows.clamp(max=height - 1)[..., :, None] * width + cols.clamp(max=width - 1)[..., None, :]
    return index, inside


def patch_means(chroma: Tensor, points: HintPoints) -> Tensor:
    """The mean of ``chroma`` (B, C, H, W) over each patch: (B, C, K); 0 for unused points."""
    batch, channels, height, width = chroma.shape
    if points.side.numel() == 0:
        return chroma.new_zeros(batch, channels, 0)
    index, inside = _patch_pixels(points, height, width)
    k, s = index.shape[1], index.shape[-1]
    values = chroma.flatten(2).gather(2, index.flatten(1)[:, None].expand(-1, channels, -1)).view(batch, channels, k, s, s)
    sums = (values * inside[:, None]).sum(dim=(-1, -2))
    return sums / points.side.square()[:, None].to(chroma.dtype)


def paint_hints(points: HintPoints, colours: Tensor, height: int, width: int) -> tuple[Tensor, Tensor]:
    """The hint map (B, C, H, W) and mask (B, 1, H, W) of square patches of ``colours`` (B, C, K); the later point wins.

    One small scatter per point index, for the whole batch: the points are painted in order, and within
    one scatter every real pixel is written once (unused pixels go to a spare slot), so the result is
    the same on every device. Faster on a busy CPU than one vectorised pass, which needs K^2 overlap tests.
    """
    batch, channels, count = colours.shape
    hint = colours.new_zeros(batch, channels, height * width + 1)
    mask = colours.new_zeros(batch, 1, height * width + 1)
    if count:
        index, inside = _patch_pixels(points, height, width)
        targets = torch.where(inside, index, height * width).flatten(2)  # (B, K, S * S)
        for k in range(count):
            target = targets[:, k, None]
            mask.scatter_(2, target, 1.0)
            hint.scatter_(2, target.expand(-1, channels, -1), colours[:, :, k, None].expand(-1, -1, target.shape[-1]))
    return hint[..., :-1].view(batch, channels, height, width), mask[..., :-1].view(batch, 1, height, width)


def local_hints(chroma: Tensor, points: HintPoints) -> tuple[Tensor, Tensor]:
    """Hints from the true chroma (B, 2, H, W): each patch gets its mean true chroma. Returns (hint map, mask)."""
    points = points.to(chroma.device)
    return paint_hints(points, patch_means(chroma, points), *chroma.shape[-2:])


def global_size(bins: int) -> int:
    """Length of the global vector: histogram (``bins``), its flag, saturation, its flag."""
    return bins + 3


class HistogramBins(NamedTuple):
    """The bins of a global histogram, and a lookup from the chroma grid's cells to them."""

    centres: Tensor  # (Q, 2) in the space's units: the space's classify bins
    grid: float
    low: Tensor  # (2,) the grid index of the table's first cell on each axis
    table: Tensor  # (rows, cols) the bin nearest each cell's centre; a cell of the gamut is its own bin

    @property
    def global_length(self) -> int:
        """Length of the global vector over these bins."""
        return global_size(len(self.centres))

    def layout(self) -> dict[str, Any]:
        """The bins as plain numbers, as :func:`colorize.portable.global_hint` reads them (an exported model's metadata
        holds them): a block's cell is round(chroma / hint_grid) - hint_bins_low, clamped to the table, whose entry is
        its bin; the histogram is taken after averaging over hint_pool x hint_pool blocks."""
        return {
            "global_length": self.global_length,
            "hint_grid": self.grid,
            "hint_bins_low": self.low.tolist(),
            "hint_bins_table": self.table.tolist(),
            "hint_pool": GLOBAL_POOL,
        }


def histogram_bins(space: ColorSpace, grid: float | None = None) -> HistogramBins:
    """The bins of ``space`` at ``grid`` (default: those of ``classify``), with a lookup over every cell of the normalised box."""
    grid = grid or DEFAULT_GRID[space.name]
    centres = gamut_bins(space, grid)
    offset, scale = torch.tensor(space.chroma_offset), torch.tensor(space.chroma_scale)
    low, high = torch.round((offset - scale) / grid).long(), torch.round((offset + scale) / grid).long()
    axes = [torch.arange(int(a), int(b) + 1) for a, b in zip(low, high, strict=True)]
    cells = torch.stack(torch.meshgrid(*axes, indexing="ij")).float() * grid
    return HistogramBins(centres, grid, low, nearest_bins(cells[None], centres, 1)[1][0, 0])


def saturation(rgb: Tensor) -> Tensor:
    """HSV saturation (B, H, W) of RGB in [0, 1]: (max - min) / max, 0 for black."""
    high, low = rgb.amax(dim=-3), rgb.amin(dim=-3)
    return torch.where(high > 0, (high - low) / high.clamp(min=1e-12), torch.zeros_like(high))


def global_hints(chroma: Tensor, rgb: Tensor, space: ColorSpace, bins: HistogramBins) -> Tensor:
    """The global vector (B, Q + 3) of images: chroma (B, 2, H, W) normalised, rgb (B, 3, H, W) in [0, 1].

    As Zhang's global_stats net: the histogram counts each pixel of the chroma averaged over 4x4 blocks
    in its nearest bin, and sums to 1; the saturation is the mean over the full image. Both flags are 1.
    """
    batch, _, height, width = chroma.shape
    small = F.adaptive_avg_pool2d(chroma.float(), (math.ceil(height / GLOBAL_POOL), math.ceil(width / GLOBAL_POOL)))
    physical = space.denormalize(torch.zeros_like(small[:, :1]), small)[:, 1:]
    table = bins.table.to(chroma.device)
    cell = torch.round(physical / bins.grid).long() - bins.low.to(chroma.device)[:, None, None]
    rows, cols = cell[:, 0].clamp(0, table.shape[0] - 1), cell[:, 1].clamp(0, table.shape[1] - 1)
    q = len(bins.centres)
    index = table[rows, cols].flatten(1) + q * torch.arange(batch, device=chroma.device)[:, None]
    histogram = torch.bincount(index.flatten(), minlength=batch * q).view(batch, q).float() / index.shape[1]
    mean_saturation = saturation(rgb.float()).mean(dim=(-1, -2))[:, None]
    one = torch.ones_like(mean_saturation)
    return torch.cat([histogram, one, mean_saturation, one], dim=1)


class Hints(NamedTuple):
    """A batch's hints: the local hint map (B, 2, H, W) and mask (B, 1, H, W), and the global vector (B, Q + 3)."""

    hint: Tensor
    mask: Tensor
    global_vector: Tensor


def no_hints(batch: int, height: int, width: int, global_length: int, device: torch.device | str = "cpu") -> Hints:
    """No hint of any kind: all zeros."""
    return Hints(
        torch.zeros(batch, 2, height, width, device=device),
        torch.zeros(batch, 1, height, width, device=device),
        torch.zeros(batch, global_length, device=device),
    )


class HintEncoder(nn.Module):
    """The network's input: L, then the extra channels of the hints ``kind`` takes (:data:`HINT_KINDS`).

    Local hints add the hint map times the mask and the mask (3 channels); global hints add a learned
    projection of the global vector, without bias, broadcast over the image (``global_channels``).
    No hint of any kind gives L followed by zeros.
    """

    def __init__(self, kind: str, global_length: int = 0, global_channels: int = 8) -> None:
        super().__init__()
        self.kind = HINT_KINDS[kind]
        self.project = nn.Linear(global_length, global_channels, bias=False) if self.kind.global_ else None

    @property
    def extra_channels(self) -> int:
        return LOCAL_CHANNELS * self.kind.local + (self.project.out_features if self.project is not None else 0)

    def forward(
        self, lightness: Tensor, hint: Tensor | None = None, mask: Tensor | None = None, global_vector: Tensor | None = None
    ) -> Tensor:
        parts = [lightness]
        if self.kind.local:
            if hint is None or mask is None:
                raise ValueError("this network takes local hints: pass the hint map and mask (zeros for none)")
            parts += [hint.to(lightness.dtype) * mask.to(lightness.dtype), mask.to(lightness.dtype)]
        if self.project is not None:
            if global_vector is None:
                raise ValueError("this network takes global hints: pass the global vector (zeros for none)")
            projected = self.project(global_vector.to(self.project.weight.dtype)).to(lightness.dtype)
            parts.append(projected[..., None, None].expand(-1, -1, *lightness.shape[-2:]))
        return torch.cat(parts, dim=1)
