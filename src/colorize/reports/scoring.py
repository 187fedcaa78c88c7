"""Scoring colorizations: the rows of a table (a model, and the reference rows), one definition shared by evaluate and
compare.

Every row turns a batch of true RGB images into the 8-bit RGB image it would write, the way ``predict`` does: chroma
at the working size, joined with the image's own L. Reference rows, without which the numbers cannot be read:
  * ``grey``: the image's L with zero chroma, the floor any colorizer must beat;
  * ``<space> round trip``: the true chroma through the same pipeline (encoded, normalised, scaled to the working
    size and back, decoded, written in 8 bits), the ceiling of a model in that space.
Every row is scored by the same rules, in one common space (see :mod:`colorize.metrics`). A reference row whose every
output is exactly its truth (a round trip at the images' own size: an 8-bit image comes back unchanged) bounds nothing
and is left out, saying so. FID is computed only where it can be reported: on two images or more, and not for an
output that is exactly its truth (its features are the truth's); on a CPU its cost is said before it starts.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from colorize.inference.colorizing import colorize_lightness, colorize_rgb, network_predictor, resize
from colorize.metrics import GREY_CF, METRIC_LABELS, colourfulness
from colorize.networks.colorizer import Colorizer
from colorize.portable import working_shape
from colorize.reports import DEFAULT_EVAL_SIZE
from colorize.reports.fid_lpips import (
    FID_MIN_IMAGES,
    EvaluationMetrics,
    fid_network,
    seconds_per_comparison,
    seconds_per_image,
)
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


# Why evaluate's and compare's reference rows differ, as each report says it.
PIXELS = {
    False: (
        "whole photos, colorized as predict does it. compare's reference rows are on the runs' validation crops instead, "
        "as training scored the runs: other pixels, so its numbers differ from these."
    ),
    True: (
        "as training scored the runs: each crop as it is, chroma at its own size. evaluate "
        f"scores whole photos instead (scaled to {DEFAULT_EVAL_SIZE} px, chroma at the run's crop size): other pixels, so "
        "its numbers differ from these, and its round trips, which resample chroma, are the ceiling that they cannot be "
        "here."
    ),
}


def protocol(images: str, count: int, eval_size: int, working_size: int, crops: bool) -> dict[str, Any]:
    """What a table was scored on, as evaluate's metrics.json and compare's report say it: whole photos (evaluate) or
    the runs' validation ``crops`` (compare)."""
    return {
        "images": images,
        "count": count,
        "eval_size": eval_size,  # each image's shorter side was scaled to this (0: as it is)
        "working_size": working_size,  # chroma predicted at this shorter side (0: the image's own)
        "pixels": PIXELS[crops],
        "outputs": "8-bit RGB, as predict writes them",
        "delta_e": "CIEDE2000 on CIE Lab of the RGB images, mean over all pixels",
        "cf": "Hasler & Süsstrunk on uint8 RGB with |rg| and |yb| (as DDColor), mean over images",
        "delta_cf": "|mean CF of the colorizations - mean CF of the ground truths|",
    }


@dataclass
class Scores:
    rows: dict[str, dict[str, float]]  # each row's metrics; empty when no image was scored
    skipped: list[int]  # positions of the images without colour (a grey photo would make "grey" the perfect colorizer)
    unavailable: dict[str, str]  # metrics left out, and why (LPIPS or FID without their weights, FID on one image)
    dropped: dict[str, str] = field(default_factory=dict)  # reference rows left out, and why
    # Each row's score on every metric that has one per image (fid_lpips.PHOTO_METRICS), image by image in the order of
    # the scored images (those not skipped), and each of those images' pixels (ΔE2000's weight in the set's value).
    photos: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    pixels: list[int] = field(default_factory=list)

    def notes(self) -> list[str]:
        """What the rows leave out, and why, as the reports say it: one note for the rows left out for one reason."""
        by_reason: dict[str, list[str]] = {}
        for name, why in self.dropped.items():
            by_reason.setdefault(why, []).append(name)
        return [f"{METRIC_LABELS[metric]} left out: {why}" for metric, why in self.unavailable.items()] + [
            f"{', '.join(names)} left out: {why}" for why, names in by_reason.items()
        ]


IDENTITY = (
    "every output was exactly its truth (chroma at the images' own size, where an 8-bit image comes back unchanged), "
    "so it bounds nothing (ΔE2000 0, PSNR infinite, FID 0 by definition)"
)


def duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"


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
    count: int | None = None,
    references: Collection[str] = (),
    say: Callable[[str], None] | None = None,
) -> Scores:
    """Every row's metrics over the colour images among ``images`` (uint8 RGB, (3, H, W) each), image by image: the
    colour metrics, LPIPS when ``perceptual`` and FID when ``fid`` (each left out, saying why, without its weights).
    ``colour_rows`` are scored in the same pass on the colour metrics alone.

    ``count``: how many images ``images`` holds, when known: below two, FID is left out before its network runs; on a
    CPU, ``say`` is told what FID will cost. ``references``: the rows left out, saying why, where every output was
    exactly its truth."""
    unavailable: dict[str, str] = {}
    if fid_weights:
        fid_network(fid_weights)  # a bad file is an error, even where FID is not computed
    if (fid or fid_weights) and count is not None and count < FID_MIN_IMAGES:
        fid, fid_weights = False, None
        unavailable["fid"] = f"it compares two sets of at least {FID_MIN_IMAGES} images, and there is {count}"
    scores = {name: EvaluationMetrics(fid_weights, lpips=perceptual, fid=fid).to(device) for name in rows}
    colour_rows = colour_rows or {}
    scores.update({name: EvaluationMetrics().to(device) for name in colour_rows})
    shared = next(iter(scores.values()))  # computes the truth's FID features once for every row
    unavailable = shared.unavailable | unavailable
    with_fid = shared.fid is not None
    if with_fid and say is not None and count and device.type == "cpu":
        each = seconds_per_image(shared.inception, device)
        compare = seconds_per_comparison(count, device) * len(rows)
        say(
            f"FID runs its Inception network on the CPU, {each:.1f} s an image here (measured now): up to about "
            f"{duration(each * count * (len(rows) + 1) + compare)} for {count} image(s) and {len(rows)} row(s) (the "
            "network on the truth once and on each output that is not exactly its truth"
            + (f"; {duration(compare)} of it comparing sets larger than its 2048 features" if compare else "")
            + "). --no-fid leaves it out."
        )
    skipped = []
    position = -1
    for position, image in enumerate(images):
        photo = image.to(device).unsqueeze(0).float() / 255.0
        if float(colourfulness(photo)[0]) < GREY_CF:
            skipped.append(position)
            continue
        rgb = as_written(resize(photo, working_shape(*photo.shape[-2:], eval_size)))
        truth = shared.truth_features(rgb) if with_fid else None
        for name, row in (rows | colour_rows).items():
            scores[name].update(row(rgb), rgb, truth)
    scored = position + 1 - len(skipped)
    if not scored:
        return Scores({}, skipped, unavailable)
    if with_fid and scored < FID_MIN_IMAGES:
        unavailable["fid"] = f"it compares two sets of at least {FID_MIN_IMAGES} images, and {scored} was scored"
    dropped = {name: IDENTITY for name in references if name in rows and scores[name].identical}
    kept = {name: metrics for name, metrics in scores.items() if name not in dropped}
    photos = {name: metrics.photo_scores() for name, metrics in kept.items()}
    return Scores({name: m.compute() for name, m in kept.items()}, skipped, unavailable, dropped, photos, shared.pixels)
