"""Colour hints a person can give (Zhang, Zhu et al., SIGGRAPH 2017, "Real-Time User-Guided Image Colorization").

Two kinds of hint join L at the network's input:

* **local**: a few patches of known colour. The network sees the hint map (2 channels, the hint's
  normalised chroma inside each patch, 0 elsewhere) and the mask (1 inside a patch, 0 elsewhere).
  Zhang feeds ab/110 and the mask minus 0.5 (``mask_cent``); here chroma is already normalised per
  space to [-1, 1] (:class:`~colorize.spaces.ColorSpace`), so Lab and LUV each get their own scale for
  free, and the mask is not centred, so that *no hint is all zeros*: a network widened by
  :func:`widen_first_conv` then computes exactly what it computed before, with or without hints, until
  it learns to use them.
* **global**: a reference photo's chroma histogram over a space's bins (:mod:`colorize.networks.bins`;
  as Zhang's global_stats net: chroma averaged over 4x4 blocks, each block counted in its nearest bin)
  and its mean HSV saturation, each with a flag that says it is given: the vector
  ``[histogram (Q), histogram flag, saturation, saturation flag]`` of :func:`global_size` ``(Q)`` numbers.
  A dropped part is all zeros. :class:`HintEncoder` projects it (no bias, so a dropped hint stays zero)
  to a few channels broadcast over the image.

Training simulates hints from the true chroma, as Zhang does (``add_color_patches_rand_gt`` of
richzhang/colorization-pytorch): a geometric number of points per image (p = 1/8: 12.5% of images get
none, 7 on average), each a square patch of a side drawn from 1..9, placed by a normal around the
image centre (std a quarter of the room left), coloured by the patch's mean true chroma. Every random
number comes from a CPU :class:`torch.Generator` seeded by :func:`hint_generator` from (seed, step, rank),
so the same run draws the same hints on any device, a resumed run draws what it would have drawn, and
the global random state is never touched. Only the few numbers per point are drawn on the CPU; the
maps are painted on the chroma's device, one batched scatter per point index, no loop over pixels.

Evaluation places hints at fixed pseudo-random locations (:func:`evaluation_hints`, Zhang's protocol:
0, 1, 2, 5, 10, 20, 50, 100 hints of 6x6 patches), the first k of n hints being those for n = k.

**Hints file** (``--hints hints.json``), UTF-8 JSON::

    {
      "patch": 3,
      "hints": [
        {"x": 412, "y": 230, "color": "#3a7bd5"},
        {"x": 80.5, "y": 1010, "color": [200, 40, 40], "patch": 5}
      ]
    }

* ``x``, ``y``: a point in the full-size photo, in pixels from its top-left corner (x to the right,
  y down; fractions allowed); it must lie inside the photo: 0 <= x < width, 0 <= y < height.
* ``color``: the colour it should have, sRGB, as ``"#rrggbb"`` or ``[r, g, b]`` with integers 0..255.
* ``patch`` (optional, per hint or for all): the side of the square the colour covers, in pixels of
  the image the network sees (its working size), centred on the point; default 3. Training used 1..9.

Hints are numbered from 1 in file order in every error message; where patches overlap, the later hint wins. The file is
read by :mod:`colorize.onnx_predict` (:func:`parse_hints` gives its errors as :class:`HintError`), which must stand
alone beside an exported model.
A colour becomes the chroma of that colour at its own lightness (``ColorSpace.encode`` of a flat patch
of it): what training gives the network, the true chroma of the true colour, is that same thing.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from colorize import onnx_predict
from colorize.errors import UserError
from colorize.networks.bins import DEFAULT_GRID, gamut_bins, nearest_bins
from colorize.networks.hint_options import (
    DEFAULT_P,
    DEFAULT_SIDES,
    EVAL_PATCH,
    GLOBAL_POOL,
    HINT_KINDS,
    LOCAL_CHANNELS,
    MAX_HINTS,
)
from colorize.onnx_predict import UserHint  # the hints file is read there: see the module docstring
from colorize.spaces import ColorSpace


class HintError(UserError, ValueError):
    """Hints that cannot be used: a malformed hints file, a hint outside the photo, or a model trained without hints."""


class HintPoints(NamedTuple):
    """Square patches, (B, K) each: top-left corner, side, and whether the point is used (images have fewer than K)."""

    top: Tensor
    left: Tensor
    side: Tensor
    valid: Tensor

    def to(self, device: torch.device | str) -> HintPoints:
        return HintPoints(*(t.to(device) for t in self))


def _normal_corner(extent: int, side: Tensor, generator: torch.Generator) -> Tensor:
    """Zhang's default: normal around the centre of the room left, std a quarter of it, clipped to the image."""
    room = extent - side + 1
    z = torch.randn(side.shape, generator=generator, dtype=torch.float64)
    return torch.minimum((room / 2 + room / 4 * z).clamp(min=0), room - 1.0).floor().long()


def _uniform_corner(extent: int, side: Tensor, generator: torch.Generator) -> Tensor:
    room = extent - side + 1
    u = torch.rand(side.shape, generator=generator, dtype=torch.float64)
    return (u * room).floor().long().clamp(max=room - 1)


# Where a training hint's patch falls: (extent, side (B, K), generator) -> corner (B, K).
PLACEMENTS: dict[str, Callable[[int, Tensor, torch.Generator], Tensor]] = {
    "normal": _normal_corner,
    "uniform": _uniform_corner,
}


def hint_generator(seed: int, step: int, rank: int = 0) -> torch.Generator:
    """A CPU generator for the hints of one batch, from (data seed, global step, process rank) hashed together."""
    digest = hashlib.blake2b(f"colorize-hints:{seed}:{step}:{rank}".encode(), digest_size=8).digest()
    return torch.Generator().manual_seed(int.from_bytes(digest, "big") >> 1)


def geometric_counts(batch: int, p: float, generator: torch.Generator) -> Tensor:
    """How many hints each image gets, (B,) int64: P(n) = p (1 - p)^n for n = 0, 1, 2, ... (at most MAX_HINTS)."""
    u = 1 - torch.rand(batch, generator=generator, dtype=torch.float64)  # in (0, 1]
    if p >= 1:
        return torch.zeros(batch, dtype=torch.long)
    return (u.log() / math.log1p(-p)).floor().clamp(max=MAX_HINTS).long()


def draw_hint_points(
    batch: int,
    height: int,
    width: int,
    generator: torch.Generator,
    p: float = DEFAULT_P,
    sides: Sequence[int] = DEFAULT_SIDES,
    placement: str = "normal",
) -> HintPoints:
    """Random training hints, on the CPU: counts, then sides, then rows, then columns, in that order."""
    counts = geometric_counts(batch, p, generator)
    k = int(counts.max()) if batch else 0
    pick = torch.randint(len(sides), (batch, k), generator=generator)
    side = torch.tensor(list(sides), dtype=torch.long)[pick].clamp(max=min(height, width))
    top = PLACEMENTS[placement](height, side, generator)
    left = PLACEMENTS[placement](width, side, generator)
    return HintPoints(top, left, side, torch.arange(k) < counts[:, None])


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


def simulate_local_hints(
    chroma: Tensor,
    generator: torch.Generator,
    p: float = DEFAULT_P,
    sides: Sequence[int] = DEFAULT_SIDES,
    placement: str = "normal",
) -> tuple[Tensor, Tensor]:
    """Zhang's training hints for a batch of true normalised chroma (B, 2, H, W): (hint map (B, 2, H, W), mask (B, 1, H, W))."""
    batch, _, height, width = chroma.shape
    return local_hints(chroma, draw_hint_points(batch, height, width, generator, p, sides, placement))


def _uniforms(key: str, count: int) -> list[float]:
    digest = hashlib.blake2b(key.encode(), digest_size=8 * count).digest()
    return [(int.from_bytes(digest[8 * i : 8 * i + 8], "big") + 0.5) / 2**64 for i in range(count)]


def evaluation_points(n: int, height: int, width: int, seeds: Sequence[int], side: int = EVAL_PATCH) -> HintPoints:
    """Fixed hint locations, ``n`` per image: point i of an image depends only on (its seed, i), so fewer hints are a prefix.

    Placed as in training (normal around the centre, std a quarter of the room, clipped), from hashed
    uniforms through Box-Muller, so they do not depend on torch's generators or the device.
    """
    side = min(side, height, width)

    def corner(extent: int, z: float) -> int:
        room = extent - side + 1
        return math.floor(min(max(room / 2 + room / 4 * z, 0.0), room - 1.0))

    rows, cols = [], []
    for seed in seeds:
        for i in range(n):
            u1, u2 = _uniforms(f"colorize-eval-hints:{seed}:{i}", 2)
            radius, angle = math.sqrt(-2 * math.log(u1)), 2 * math.pi * u2
            rows.append(corner(height, radius * math.cos(angle)))
            cols.append(corner(width, radius * math.sin(angle)))
    shape = (len(seeds), n)
    top, left = torch.tensor(rows, dtype=torch.long).view(shape), torch.tensor(cols, dtype=torch.long).view(shape)
    return HintPoints(top, left, torch.full(shape, side), torch.ones(shape, dtype=torch.bool))


def evaluation_hints(chroma: Tensor, n: int, seed: int | Sequence[int] = 0, side: int = EVAL_PATCH) -> tuple[Tensor, Tensor]:
    """``n`` hints per image of ``side`` x ``side`` patches of the true mean chroma, at fixed locations.

    ``seed``: one for every image, or one per image (e.g. its index in the evaluation set) so that images
    get different locations that stay the same in every run and at every batch size.
    """
    batch, _, height, width = chroma.shape
    seeds = [seed] * batch if isinstance(seed, int) else list(seed)
    if len(seeds) != batch:
        raise ValueError(f"{len(seeds)} seeds for a batch of {batch} images")
    return local_hints(chroma, evaluation_points(n, height, width, seeds, side))


def global_size(bins: int) -> int:
    """Length of the global vector: histogram (``bins``), its flag, saturation, its flag."""
    return bins + 3


class HistogramBins(NamedTuple):
    """The bins of a global histogram, and a lookup from the chroma grid's cells to them."""

    centres: Tensor  # (Q, 2) in the space's units: the space's classify bins
    grid: float
    low: Tensor  # (2,) the grid index of the table's first cell on each axis
    table: Tensor  # (rows, cols) the bin nearest each cell's centre; a cell of the gamut is its own bin


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


def drop_global_hints(vector: Tensor, generator: torch.Generator, rate: float) -> Tensor:
    """Zero each image's histogram (and its flag), and independently its saturation, with chance ``rate``."""
    batch, q = len(vector), vector.shape[1] - 3
    keep = (torch.rand(2, batch, generator=generator, dtype=torch.float64) >= rate).to(vector.device, vector.dtype)
    parts = [vector[:, : q + 1] * keep[0, :, None], vector[:, q + 1 :] * keep[1, :, None]]
    return torch.cat(parts, dim=1)


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


def simulate_hints(
    options: Any, chroma: Tensor, rgb: Tensor, space: ColorSpace, bins: HistogramBins | None, generator: torch.Generator
) -> Hints:
    """A training batch's hints, as ``options`` (:class:`HintOptions`) ask; kinds not used are zeros."""
    kind = HINT_KINDS[options.hints]
    batch, _, height, width = chroma.shape
    hints = no_hints(batch, height, width, global_size(len(bins.centres)) if kind.global_ else 0, chroma.device)
    if kind.local:
        sides = list(options.hint_patch_sides)
        hint, mask = simulate_local_hints(chroma, generator, options.hint_p, sides, options.hint_placement)
        hints = hints._replace(hint=hint, mask=mask)
    if kind.global_:
        vector = drop_global_hints(global_hints(chroma, rgb, space, bins), generator, options.hint_global_drop)
        hints = hints._replace(global_vector=vector)
    return hints


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


def first_conv(net: nn.Module) -> nn.Conv2d:
    """The first Conv2d of ``net`` in registration order: the input conv of the cnn body and of timm encoders."""
    for module in net.modules():
        if isinstance(module, nn.Conv2d):
            return module
    raise ValueError(f"{type(net).__name__} has no Conv2d")


def widen_conv(conv: nn.Conv2d, extra_in_channels: int) -> nn.Conv2d:
    """Give ``conv`` ``extra_in_channels`` more input channels, after its own, with zero weights; in place.

    The module, its class (e.g. timm's Conv2dSame) and its name stay, so whatever refers to it (timm's
    ``feature_info``, hooks) stays valid. An optimiser must be made after this.
    """
    if conv.groups != 1:
        raise ValueError(f"cannot widen a grouped convolution ({conv.groups} groups)")
    weight = conv.weight
    zeros = weight.new_zeros(weight.shape[0], extra_in_channels, *weight.shape[2:])
    conv.weight = nn.Parameter(torch.cat([weight.detach(), zeros], dim=1), requires_grad=weight.requires_grad)
    conv.in_channels += extra_in_channels
    # A conv that transforms its weights (weight standardisation) would give zero weights an effect.
    span = max((k - 1) * d + 1 for k, d in zip(conv.kernel_size, conv.dilation, strict=True)) * 2 + max(conv.stride)
    with torch.no_grad():
        probe = weight.new_zeros(1, conv.in_channels, span, span)
        before = conv(probe)
        probe[:, -extra_in_channels:] = 1
        if not torch.equal(conv(probe), before):
            raise ValueError(f"{type(conv).__name__} transforms its weights, so zero weights for new channels are not neutral")
    return conv


def widen_first_conv(net: nn.Module, extra_in_channels: int) -> nn.Conv2d:
    """:func:`widen_conv` on the first conv of ``net``; returns it. A pretrained network keeps its meaning:
    given zeros in the new channels, it computes what it did before."""
    return widen_conv(first_conv(net), extra_in_channels)


def parse_hints(text: str, photo_size: tuple[int, int], source: str = "hints file") -> list[UserHint]:
    """The hints of a hints file's text (see the module docstring), checked against the photo's (width, height)."""
    try:
        return onnx_predict.parse_hints(text, photo_size, source)
    except onnx_predict.HintFileError as e:
        raise HintError(str(e)) from None


def read_hints(path: str | Path, photo_size: tuple[int, int]) -> list[UserHint]:
    """Read and check a hints file against the photo's (width, height)."""
    try:
        return onnx_predict.read_hints(path, photo_size)
    except onnx_predict.HintFileError as e:
        raise HintError(str(e)) from None


def srgb_chroma(colours: Sequence[Sequence[int]], space: ColorSpace) -> Tensor:
    """Normalised chroma (N, 2) of 8-bit sRGB colours (N, 3), each at its own lightness."""
    rgb = torch.tensor([list(c) for c in colours], dtype=torch.float32).T[:, None, :] / 255  # (3, 1, N)
    return space.encode(rgb)[1][:, 0, :].T


def user_hint_maps(
    hints: Sequence[UserHint], photo_size: tuple[int, int], size: tuple[int, int], space: ColorSpace
) -> tuple[Tensor, Tensor]:
    """The hint map (1, 2, h, w) and mask (1, 1, h, w) at the working ``size`` (h, w) of hints on a photo of (width, height)."""
    (width, height), (h, w) = photo_size, size
    sides = torch.tensor([[min(hint.patch, h, w) for hint in hints]], dtype=torch.long)
    rows = torch.tensor([[min(int(hint.y * h / height), h - 1) for hint in hints]], dtype=torch.long)
    cols = torch.tensor([[min(int(hint.x * w / width), w - 1) for hint in hints]], dtype=torch.long)
    top = torch.minimum((rows - (sides - 1) // 2).clamp(min=0), h - sides)
    left = torch.minimum((cols - (sides - 1) // 2).clamp(min=0), w - sides)
    points = HintPoints(top, left, sides, torch.ones_like(sides, dtype=torch.bool))
    colours = srgb_chroma([hint.rgb for hint in hints], space).T[None]  # (1, 2, K)
    return paint_hints(points, colours, h, w)


def reference_global_hints(rgb: Tensor, space: ColorSpace, bins: HistogramBins) -> Tensor:
    """The global vector (1, Q + 3) of a reference photo, RGB (3, H, W) or (1, 3, H, W) in [0, 1] (or uint8)."""
    rgb = rgb[None] if rgb.dim() == 3 else rgb
    rgb = rgb.float() / 255 if rgb.dtype == torch.uint8 else rgb.float()
    return global_hints(space.encode(rgb)[1], rgb, space, bins)


def check_hints_supported(trained: str, local: bool, global_: bool) -> None:
    """Refuse hints that a model trained with ``model.hints=trained`` cannot take."""
    kind = HINT_KINDS[trained]
    if local and not kind.local:
        raise HintError(
            f"This model was trained without local colour hints (model.hints={trained}), so it cannot take --hints. "
            "Use a model trained with model.hints=local or both, or leave out --hints."
        )
    if global_ and not kind.global_:
        raise HintError(
            f"This model was trained without a global hint (model.hints={trained}), so it cannot take --reference. "
            "Use a model trained with model.hints=global or both, or leave out --reference."
        )
