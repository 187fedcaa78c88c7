"""Scoring colorizations: the rows of a table (a model, and the reference rows), one definition shared by evaluate and
compare.

Every row turns a batch of true RGB images into the 8-bit RGB image it would write, the way ``predict`` does: chroma
at the working size, joined with the image's own L. Reference rows, without which the numbers cannot be read:
  * ``grey``: the image's L with zero chroma, the floor any colorizer must beat;
  * ``<space> round trip``: the true chroma through the same pipeline (encoded, normalised, scaled to the working
    size and back, decoded, written in 8 bits), the ceiling of a model in that space.
Every row is scored by the same rules, in one common space (see :mod:`colorize.metrics`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from colorize.inference.colorizing import colorize_lightness, colorize_rgb, network_predictor, resize
from colorize.metrics import GREY_CF, EvaluationMetrics, colourfulness
from colorize.networks.colorizer import Colorizer
from colorize.portable import working_shape
from colorize.spaces import SPACES, ColorSpace

Row = Callable[[Tensor], Tensor]  # RGB batch in [0, 1] -> its colorization, RGB in [0, 1]


def as_written(rgb: Tensor) -> Tensor:
    """RGB in [0, 1] as an 8-bit image file holds it."""
    return (rgb.clamp(0, 1) * 255).round() / 255


def model_row(colorizer: Colorizer, size: int) -> Row:
    predict = network_predictor(colorizer)
    return lambda rgb: as_written(colorize_rgb(colorizer.space, rgb, predict, size))


def grey_row(space: ColorSpace) -> Row:
    def grey(rgb: Tensor) -> Tensor:
        lightness, _ = space.encode(rgb)
        return as_written(space.decode_grey(lightness))

    return grey


def round_trip_row(space: ColorSpace, size: int) -> Row:
    def round_trip(rgb: Tensor) -> Tensor:
        lightness, chroma = space.encode(rgb)
        return as_written(colorize_lightness(space, lightness, lambda small: resize(chroma, small.shape[-2:]), size))

    return round_trip


def reference_rows(space: ColorSpace, size: int) -> dict[str, Row]:
    """The grey baseline (in ``space``) and the round trip through every colour space, chroma at ``size``."""
    rows = {"grey": grey_row(space)}
    rows.update({f"{name} round trip": round_trip_row(other, size) for name, other in SPACES.items()})
    return rows


def protocol(images: str, count: int, eval_size: int, working_size: int) -> dict[str, Any]:
    """What a table was scored on, as evaluate's metrics.json and compare's report say it."""
    return {
        "images": images,
        "count": count,
        "eval_size": eval_size,  # each image's shorter side was scaled to this (0: as it is)
        "working_size": working_size,  # chroma predicted at this shorter side (0: the image's own)
        "outputs": "8-bit RGB, as predict writes them",
        "delta_e": "CIEDE2000 on CIE Lab of the RGB images, mean over all pixels",
        "cf": "Hasler & Süsstrunk on uint8 RGB with |rg| and |yb| (as DDColor), mean over images",
        "delta_cf": "|mean CF of the colorizations - mean CF of the ground truths|",
    }


@dataclass
class Scores:
    rows: dict[str, dict[str, float]]  # each row's metrics; empty when no image was scored
    skipped: list[int]  # positions of the images without colour (a grey photo would make "grey" the perfect colorizer)
    unavailable: dict[str, str]  # metrics left out, and why (LPIPS or FID without their weights)


@torch.no_grad()
def score_rows(
    images: Iterable[Tensor],
    rows: dict[str, Row],
    eval_size: int,
    device: torch.device,
    fid_weights: str | None = None,
    perceptual: bool = True,
    fid: bool = True,
    colour_rows: dict[str, Row] | None = None,
) -> Scores:
    """Every row's metrics over the colour images among ``images`` (uint8 RGB, (3, H, W) each), image by image: the
    colour metrics, LPIPS when ``perceptual`` and FID when ``fid`` (each left out, saying why, without its weights).
    ``colour_rows`` are scored in the same pass on the colour metrics alone."""
    scores = {name: EvaluationMetrics(fid_weights, lpips=perceptual, fid=fid).to(device) for name in rows}
    colour_rows = colour_rows or {}
    scores.update({name: EvaluationMetrics().to(device) for name in colour_rows})
    skipped = []
    position = -1
    for position, image in enumerate(images):
        photo = image.to(device).unsqueeze(0).float() / 255.0
        if float(colourfulness(photo)[0]) < GREY_CF:
            skipped.append(position)
            continue
        rgb = as_written(resize(photo, working_shape(*photo.shape[-2:], eval_size)))
        for name, row in (rows | colour_rows).items():
            scores[name].update(row(rgb), rgb)
    unavailable = next(iter(scores.values())).unavailable if scores else {}
    if len(skipped) == position + 1:
        return Scores({}, skipped, unavailable)
    return Scores({name: metrics.compute() for name, metrics in scores.items()}, skipped, unavailable)
