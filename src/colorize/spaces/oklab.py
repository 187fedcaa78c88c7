"""``oklab``: OKLab (Ottosson 2020), the perceptual space of CSS Color 4 and image editors.

Linear sRGB -> cone responses (LMS) by ``RGB_TO_LMS``, a cube root, -> (L, a, b) by ``LMS_TO_OKLAB``; the inverse
undoes each step with the inverse matrices. Both matrices and their inverses are Ottosson's, as published
(https://bottosson.github.io/posts/oklab/). sRGB's transfer function is kornia's (the standard piecewise one).

The cube root's slope is infinite at 0 (black), so below ``CBRT_KNEE`` it is replaced by its chord through 0 and its
inverse likewise: the two stay exact inverses, every 8-bit sRGB colour but black is untouched (their smallest cone
response is 1.5e-5), and the gradient stays finite. Gamut extremes over the 8-bit sRGB cube: L [0, 1],
a [-0.234, 0.276], b [-0.312, 0.199].
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from colorize.spaces.registry import ColorSpace, mix, register

if TYPE_CHECKING:
    from torch import Tensor

RGB_TO_LMS = (
    (0.4122214708, 0.5363325363, 0.0514459929),
    (0.2119034982, 0.6806995451, 0.1073969566),
    (0.0883024619, 0.2817188376, 0.6299787005),
)
LMS_TO_OKLAB = (
    (0.2104542553, 0.7936177850, -0.0040720468),
    (1.9779984951, -2.4285922050, 0.4505937099),
    (0.0259040371, 0.7827717662, -0.8086757660),
)
OKLAB_TO_LMS = (
    (1.0, 0.3963377774, 0.2158037573),
    (1.0, -0.1055613458, -0.0638541728),
    (1.0, -0.0894841775, -1.2914855480),
)
LMS_TO_RGB = (
    (4.0767416621, -3.3077115913, 0.2309699292),
    (-1.2684380046, 2.6097574011, -0.3413193965),
    (-0.0041960863, -0.7034186147, 1.7076147010),
)
CBRT_KNEE = 1e-6  # below it (in cone response) the cube root is linear: slope 1e4 at black, not infinity


def cbrt(x: Tensor) -> Tensor:
    """The real cube root, linear (the chord through 0) for |x| < CBRT_KNEE."""
    import torch

    magnitude = x.abs()
    root = magnitude.clamp(min=CBRT_KNEE).pow(1 / 3).copysign(x)  # clamped: no infinite slope even where unused
    return torch.where(magnitude >= CBRT_KNEE, root, x * CBRT_KNEE ** (-2 / 3))


def cube(y: Tensor) -> Tensor:
    """The exact inverse of :func:`cbrt`."""
    import torch

    return torch.where(y.abs() >= CBRT_KNEE ** (1 / 3), y**3, y * CBRT_KNEE ** (2 / 3))


def from_rgb(rgb: Tensor) -> Tensor:
    from kornia.color import rgb_to_linear_rgb

    return mix(LMS_TO_OKLAB, cbrt(mix(RGB_TO_LMS, rgb_to_linear_rgb(rgb))))


def to_rgb(oklab: Tensor) -> Tensor:
    from kornia.color import linear_rgb_to_rgb

    return linear_rgb_to_rgb(mix(LMS_TO_RGB, cube(mix(OKLAB_TO_LMS, oklab))))


OKLAB = register(
    ColorSpace(
        "oklab",
        "OKLab (Ottosson 2020): lightness L and chroma a, b fitted to perceived colour; CSS Color 4's perceptual space",
        lightness_name="L",
        chroma_names=("a", "b"),
        lightness_range=(0.0, 1.0),
        chroma_offset=(0.021, -0.056),
        chroma_scale=(0.257, 0.257),
        bin_grid=0.0275,  # the grid, in steps of 0.0005, whose sRGB gamut fills the number of cells nearest Lab's: 261
        from_rgb=from_rgb,
        to_rgb=to_rgb,
    )
)
