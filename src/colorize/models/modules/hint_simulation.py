"""The colour hints training simulates from a batch's true colours (Zhang, Zhu et al., SIGGRAPH 2017), as
``model.hints`` and the ``hint_*`` options ask (:class:`~colorize.networks.hint_options.HintOptions`).

As Zhang does (``add_color_patches_rand_gt`` of richzhang/colorization-pytorch): a geometric number of points per image
(p = 1/8: 12.5% of images get none, 7 on average), each a square patch of a side drawn from 1..9, placed by a normal
around the image centre (std a quarter of the room left), coloured by the patch's mean true chroma; a global hint is the
image's own histogram and saturation (:func:`colorize.networks.hints.global_hints`), each part dropped at random. Every
random number comes from a CPU :class:`torch.Generator` seeded by :func:`hint_generator` from (seed, step, rank), so the
same run draws the same hints on any device, a resumed run draws what it would have drawn, and the global random state
is never touched. Only the few numbers per point are drawn on the CPU; the maps are painted on the chroma's device
(:func:`colorize.networks.hints.paint_hints`).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor

from colorize.networks.hint_options import DEFAULT_P, DEFAULT_SIDES, HINT_KINDS, MAX_HINTS
from colorize.networks.hints import HintPoints, Hints, HistogramBins, global_hints, local_hints, no_hints
from colorize.spaces import ColorSpace


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


def drop_global_hints(vector: Tensor, generator: torch.Generator, rate: float) -> Tensor:
    """Zero each image's histogram (and its flag), and independently its saturation, with chance ``rate``."""
    batch, q = len(vector), vector.shape[1] - 3
    keep = (torch.rand(2, batch, generator=generator, dtype=torch.float64) >= rate).to(vector.device, vector.dtype)
    parts = [vector[:, : q + 1] * keep[0, :, None], vector[:, q + 1 :] * keep[1, :, None]]
    return torch.cat(parts, dim=1)


def simulate_hints(
    options: Any, chroma: Tensor, rgb: Tensor, space: ColorSpace, bins: HistogramBins | None, generator: torch.Generator
) -> Hints:
    """A training batch's hints, as ``options`` (:class:`HintOptions`) ask; kinds not used are zeros. ``bins``: the
    colorizer's histogram bins (:attr:`colorize.networks.colorizer.Colorizer.hint_bins`), for a global hint."""
    kind = HINT_KINDS[options.hints]
    batch, _, height, width = chroma.shape
    hints = no_hints(batch, height, width, bins.global_length if kind.global_ else 0, chroma.device)
    if kind.local:
        sides = list(options.hint_patch_sides)
        hint, mask = simulate_local_hints(chroma, generator, options.hint_p, sides, options.hint_placement)
        hints = hints._replace(hint=hint, mask=mask)
    if kind.global_:
        vector = drop_global_hints(global_hints(chroma, rgb, space, bins), generator, options.hint_global_drop)
        hints = hints._replace(global_vector=vector)
    return hints
