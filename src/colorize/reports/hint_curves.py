"""How well a colorizer takes local colour hints: the hint curve, and a row of pictures of one photo with more and more hints.

The curve follows Zhang, Zhu et al. (SIGGRAPH 2017): for each count in ``EVAL_HINT_COUNTS`` (0, 1, 2, 5, 10, 20, 50,
100), every test photo is colorized with that many hints, 6x6 patches of its own mean true chroma at fixed locations
(:func:`evaluation_points`, placed here), taken at the working size the network sees. A photo's seed is its position
among the scored photos, so every model and every run gets the same locations, and the first k of n hints are those of
k. Each count is a row scored as evaluate scores the model's own (:mod:`colorize.reports.scoring`), on the colour
metrics alone; PSNR, ΔE2000 and ΔCF make the curve. evaluate writes it to ``metrics.json`` as ``hint_curve``; compare
reads it back from each run's evaluations and plots the curves of every model x space.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from colorize.inference.colorizing import colorize_lightness, network_predictor, resize
from colorize.metrics import METRIC_LABELS
from colorize.networks.colorizer import Colorizer
from colorize.networks.hint_options import EVAL_HINT_COUNTS, EVAL_PATCH, HINT_KINDS
from colorize.networks.hints import HintPoints, local_hints
from colorize.portable import working_shape
from colorize.reports.scoring import Row, as_written
from colorize.runs import Run

HINT_CURVE_METRICS = ("psnr", "delta_e", "delta_cf")
SHEET_HINT_COUNTS = (0, 1, 5, 20)  # the picture row of one photo
# Zhang, Zhu et al. 2017, their released evaluation: PSNR (dB) of 1000 ImageNet validation images at 256x256 with
# 6x6 patches of the true mean colour. Only these four points are published.
ZHANG_PSNR = {0: 24.43, 1: 25.37, 10: 28.42, 100: 31.13}
CURVE_CAPTION = (
    f"Hints: {EVAL_PATCH}x{EVAL_PATCH} patches of the true mean colour, at the same fixed locations for every model. "
    "Zhang et al. 2017 (stars): their model on 1000 ImageNet images at 256², not comparable in absolute terms."
)


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


class _WithHints(nn.Module):
    """A colorizer with fixed hints at its working size, as a function of L alone (for AnySize, which pads L to a
    multiple of 32): the hints are padded to L's size with zeros, which mean no hint."""

    def __init__(self, colorizer: Colorizer, hint: Tensor, mask: Tensor) -> None:
        super().__init__()
        self.colorizer, self.hint, self.mask = colorizer, hint, mask

    def forward(self, lightness: Tensor) -> Tensor:
        pad = (0, lightness.shape[-1] - self.hint.shape[-1], 0, lightness.shape[-2] - self.hint.shape[-2])
        return self.colorizer(lightness, F.pad(self.hint, pad), F.pad(self.mask, pad))


def colorize_with_hints(
    colorizer: Colorizer, rgb: Tensor, count: int, size: int, seeds: Sequence[int]
) -> tuple[Tensor, HintPoints]:
    """RGB (B, 3, H, W) in [0, 1] colorized with ``count`` evaluation hints per image from its own chroma, chroma at the
    working ``size`` as predict does it; and the hints' patches, in pixels of the working size."""
    lightness, chroma = colorizer.space.encode(rgb)
    small = resize(chroma, working_shape(*chroma.shape[-2:], size))
    points = evaluation_points(count, *small.shape[-2:], seeds, EVAL_PATCH)
    hint, mask = local_hints(small, points)
    predict = network_predictor(_WithHints(colorizer, hint, mask))
    return colorize_lightness(colorizer.space, lightness, predict, size), points


class HintRow:
    """A row (:data:`~colorize.reports.scoring.Row`) with ``count`` hints: the n-th image it is given, from 0, gets seed n,
    so make one per pass over a test set."""

    def __init__(self, colorizer: Colorizer, count: int, size: int) -> None:
        self.colorizer, self.count, self.size = colorizer, count, size
        self.seen = 0

    def __call__(self, rgb: Tensor) -> Tensor:
        seeds = range(self.seen, self.seen + len(rgb))
        self.seen += len(rgb)
        return as_written(colorize_with_hints(self.colorizer, rgb, self.count, self.size, seeds)[0])


def row_name(count: int) -> str:
    return f"{count} hint{'' if count == 1 else 's'}"


def hint_rows(colorizer: Colorizer, size: int, counts: Sequence[int] = EVAL_HINT_COUNTS) -> dict[str, Row]:
    """One row per count for a colorizer that takes local hints; none for one that does not."""
    if not colorizer.hint_kind.local:
        return {}
    return {row_name(n): HintRow(colorizer, n, size) for n in counts}


def curve_from_scores(scores: dict[str, dict[str, float]], counts: Sequence[int] = EVAL_HINT_COUNTS) -> dict[str, list]:
    """The curve in the scores of :func:`hint_rows`: ``{"counts": [...], "psnr": [...], "delta_e": [...], ...}``."""
    curve: dict[str, list] = {"counts": list(counts)}
    for metric in HINT_CURVE_METRICS:
        curve[metric] = [scores[row_name(n)][metric] for n in counts]
    return curve


def format_curve(curve: dict[str, list]) -> str:
    """The curve as a small table under a title: one column per count of hints."""
    lines = [f"With local hints ({EVAL_PATCH}x{EVAL_PATCH} patches of the true mean colour, at fixed locations):"]
    lines.append("hints".ljust(12) + "".join(f"{n:>9}" for n in curve["counts"]))
    for metric in HINT_CURVE_METRICS:
        lines.append(METRIC_LABELS[metric].ljust(12) + "".join(f"{v:>9.3f}" for v in curve[metric]))
    return "\n".join(lines)


# ---------------------------------------------------------------- curves of runs, for compare


def takes_local_hints(record: Run) -> bool:
    return HINT_KINDS[str(record.config.model.get("hints") or "none")].local


def hint_evaluation(record: Run, notes: list[str]) -> dict[str, Any] | None:
    """The newest evaluation of the run's best checkpoint that has a hint curve; None, with a note when the run has
    curves of other checkpoints only."""
    own = [report for _, report in record.evaluations(notes) if "hint_curve" in report]
    if own:
        return own[0]
    best = record.best_checkpoint
    if any("hint_curve" in report for _, report in record.evaluations([], every=True)):
        notes.append(
            f"{record.name}: its hint curves are of other checkpoints than its best ({best.name if best else 'none'}), "
            f"so it is left out of hint_curves.png: python -m colorize.evaluate {best or '<its best checkpoint>'}."
        )
    return None


# ---------------------------------------------------------------- pictures


def outline_patches(images: Tensor, points: HintPoints, working: tuple[int, int]) -> Tensor:
    """``images`` (B, 3, H, W) with each hint patch framed by a white ring and a black one just outside it, so that it
    shows on any colour; ``points`` are in pixels of the ``working`` (h, w) size. A copy."""
    images = images.clone()
    height, width = images.shape[-2:]
    scale_y, scale_x = height / working[0], width / working[1]
    for b, (tops, lefts, sides, valid) in enumerate(zip(*points, strict=True)):
        for top, left, side, used in zip(tops.tolist(), lefts.tolist(), sides.tolist(), valid.tolist(), strict=True):
            if not used:
                continue
            y0, y1 = int(top * scale_y), max(int(top * scale_y) + 1, round((top + side) * scale_y))
            x0, x1 = int(left * scale_x), max(int(left * scale_x) + 1, round((left + side) * scale_x))
            for gap, value in ((1, 1.0), (2, 0.0)):
                r0, r1, c0, c1 = y0 - gap, y1 - 1 + gap, x0 - gap, x1 - 1 + gap  # the ring, inclusive
                rows, cols = slice(max(r0, 0), min(r1, height - 1) + 1), slice(max(c0, 0), min(c1, width - 1) + 1)
                for r in (r0, r1):
                    if 0 <= r < height:
                        images[b, :, r, cols] = value
                for c in (c0, c1):
                    if 0 <= c < width:
                        images[b, :, rows, c] = value
    return images


@torch.no_grad()
def hint_columns(
    colorizer: Colorizer, rgb: Tensor, size: int, counts: Sequence[int] = SHEET_HINT_COUNTS, seed: int = 0
) -> list[tuple[str, Tensor]]:
    """(title, images) for each count: ``rgb`` (B, 3, H, W) in [0, 1] colorized with that many evaluation hints (image i
    gets seed ``seed + i``, the locations of the hint curve), its patches framed; then the ground truth."""
    seeds = range(seed, seed + len(rgb))
    columns = []
    for count in counts:
        images, points = colorize_with_hints(colorizer, rgb, count, size, seeds)
        working = working_shape(*rgb.shape[-2:], size)
        columns.append((row_name(count), outline_patches(as_written(images), points, working).cpu()))
    return [*columns, ("ground truth", rgb.cpu())]
