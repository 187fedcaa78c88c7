"""``classify``: colorization as classification over chroma bins (Zhang, Isola & Efros, ECCV 2016).

The colorizer (a ``cnn`` or ``resnet`` body, ``model.body``) ends in a head of one logit per bin of the space's sRGB
gamut (see :mod:`colorize.networks.bins`), decoded by the annealed mean, so it returns normalised chroma like every
other colorizer. How it learns (soft targets, class rebalancing, the colour prior) is in
:mod:`colorize.models.modules.classify`.
"""

from __future__ import annotations

from dataclasses import dataclass

from colorize.models.registry import ModelFamily, register
from colorize.models.regression import RegressionOptions
from colorize.networks.bodies import BODIES, AnyBodyOptions
from colorize.options import AT_LEAST_ONE, POSITIVE, UNIT, option

# Sides of the pixel blocks that get one bin distribution each (model.head_stride).
HEAD_STRIDES = (1, 2, 4, 8)


def _one_of_the_strides(value: int) -> str | None:
    return None if value in HEAD_STRIDES else f"must be one of {', '.join(map(str, HEAD_STRIDES))}."


def _no_blend(value: bool) -> str | None:
    return (
        "must be false for classify: the blend pulls decoded chroma towards the hints, and classify's bin logits learn by "
        "cross-entropy, which the blend's weights would never reach. Its body takes the dense hint field (model.hint_field)."
        if value
        else None
    )


@dataclass
class ClassifyOptions(AnyBodyOptions, RegressionOptions):
    """Colorization as classification over chroma bins (Zhang et al. 2016), on a cnn or resnet body."""

    body: str = option("cnn", choices=BODIES)  # with that body's options, e.g. model.base_channels
    grid: float | None = option(None, POSITIVE)  # side of a bin's cell in chroma units; None: the space's bin_grid
    temperature: float = option(0.38, POSITIVE)  # of the annealed mean: lower is more vivid, 1 is the mean
    uniform_mix: float = option(0.5, UNIT)  # λ, the uniform share of the rebalancing prior; 1: no rebalancing
    # Training crops whose colours make the prior; a sample of a few thousand is plenty for a few hundred bins.
    prior_crops: int = option(4096, AT_LEAST_ONE)
    # One bin distribution per block of head_stride^2 pixels, its chroma resized back to the input's size: 4 is Zhang
    # et al.'s (64^2 for 256^2) and costs the softmax 1/16 of 1's. Checkpoints from before it have 1.
    head_stride: int = option(4, check=_one_of_the_strides)
    # Start the bin logits' bias at the log of the rebalanced prior, the best guess that ignores the input.
    prior_bias: bool = True
    # Warm start: the body's weights (not its head) from a trained run of the same body, body options and space.
    body_ckpt: str | None = option(None, warm_start=True)
    # With body_ckpt from a run that predicts chroma (cnn, resnet, gan): the bin logits start as a Gaussian around that
    # run's prediction instead of at the prior (prior_bias), so classify starts where the regression run ended.
    head_from_ckpt: bool = False
    hint_blend: bool = option(False, check=_no_blend)  # see HintOptions


FAMILY = register(
    ModelFamily(
        "classify",
        ClassifyOptions,
        "colorize.models.modules.classify:ClassificationColorizer",
        "bins",
        legacy={"head_stride": 1, "prior_bias": False},
    )
)
