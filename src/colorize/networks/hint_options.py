"""Which colour hints a network takes (``model.hints``) and how training simulates them: the options of every family.

Nothing here imports torch, so that the config reads these options at once. The hints as a network's inputs are
:mod:`colorize.networks.hints`; training simulates them in :mod:`colorize.models.modules.hint_simulation`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from colorize.options import AT_LEAST_ONE, UNIT, Range, option


@dataclass(frozen=True)
class HintKind:
    local: bool  # adds the hint map and mask: 3 channels
    global_: bool  # adds the projected global vector: hint_global_channels channels
    meaning: str


HINT_KINDS: dict[str, HintKind] = {
    "none": HintKind(False, False, "no hints: the network sees L alone"),
    "local": HintKind(True, False, "L + hint chroma (2) + mask (1)"),
    "global": HintKind(False, True, "L + the reference's histogram and saturation, projected to hint_global_channels"),
    "both": HintKind(True, True, "L + hint chroma (2) + mask (1) + the projected global vector"),
}

DEFAULT_P = 1 / 8  # Zhang's sample_p in training
MAX_HINTS = 200  # per training image; at p = 1/8 more than that happens to fewer than one image in 10^11
DEFAULT_SIDES = tuple(range(1, 10))  # Zhang's sample_Ps
LOCAL_CHANNELS = 3
GLOBAL_POOL = 4  # the histogram is taken at 1/4 resolution, as Zhang's global_stats net does
EVAL_HINT_COUNTS = (0, 1, 2, 5, 10, 20, 50, 100)  # Zhang's evaluation protocol
EVAL_PATCH = 6
PLACEMENT_NAMES = ("normal", "uniform")  # where a training hint falls: colorize.models.modules.hint_simulation.PLACEMENTS
# The dense hint field's Gaussians (pixels of the image the network sees; colorize.networks.hint_field), and their range.
DEFAULT_FIELD_SIGMAS = (2.0, 8.0, 32.0)
FIELD_SIGMA = Range(0.5, 256)
# What a checkpoint from before the dense hint field holds nothing about: it was built without it (issue 29).
BEFORE_HINT_FIELD = {"hint_field": False, "hint_blend": False, "hint_field_sigmas": []}


def _check_sides(sides: Any) -> str | None:
    return None if len(sides) else "must list at least one patch side, e.g. [1, 2, 3, 4, 5, 6, 7, 8, 9]."


@dataclass
class HintOptions:
    """Colour hints (Zhang, Zhu et al. 2017): which the network takes, and how training simulates them."""

    hints: str = option("none", choices=HINT_KINDS)  # none | local | global | both: see HINT_KINDS for the channels
    # Geometric law of the number of local hints per image: P(n) = p (1 - p)^n; 1/8: 12.5% get none, 7 on average.
    hint_p: float = option(DEFAULT_P, Range(0, 1, low_open=True), architecture=False)
    # Sides of the square patches, one drawn uniformly per hint, in pixels of the training crop.
    hint_patch_sides: list[int] = option(
        range=AT_LEAST_ONE, check=_check_sides, factory=lambda: list(DEFAULT_SIDES), architecture=False
    )
    hint_placement: str = option("normal", choices=PLACEMENT_NAMES, architecture=False)
    # Chance that training drops the histogram, and independently the saturation, of an image's global hint. Zhang drops
    # each at random (ColorGlobalDropoutLayer) but his training rate is not in his public code; 0.5 trains both cases alike.
    hint_global_drop: float = option(0.5, UNIT, architecture=False)
    hint_global_channels: int = option(8, AT_LEAST_ONE)  # the global vector's learned projection, broadcast over the image
    # Local hints spread by normalised convolution at these Gaussian widths and over the whole image (the dense hint field,
    # colorize.networks.hint_field), added to every decoder stage of the body through zero-initialised 1x1 convolutions.
    hint_field: bool = True
    # The output is a confidence-weighted mean of the prediction and the dense field (learned weights; with no hint
    # near, exactly the prediction). Chroma heads only: classify's bin logits are trained by cross-entropy.
    hint_blend: bool = True
    hint_field_sigmas: list[float] = option(range=FIELD_SIGMA, factory=lambda: list(DEFAULT_FIELD_SIGMAS))
