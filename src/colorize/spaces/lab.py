"""``lab``: CIE L*a*b* (D65), the space of most colorization papers; kornia's conversions.

Gamut extremes over the 8-bit sRGB cube: a [-86.2, 98.2], b [-107.9, 94.5].
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from colorize.spaces.registry import ColorSpace, register

if TYPE_CHECKING:
    from torch import Tensor


def from_rgb(rgb: Tensor) -> Tensor:
    from kornia.color import rgb_to_lab

    return rgb_to_lab(rgb)


def to_rgb(lab: Tensor) -> Tensor:
    from kornia.color import lab_to_rgb

    return lab_to_rgb(lab, clip=False)


LAB = register(
    ColorSpace(
        "lab",
        "CIE L*a*b* (D65): perceptually uniform-ish chroma a, b beside the lightness L*; most papers' space",
        lightness_name="L*",
        chroma_names=("a", "b"),
        lightness_range=(0.0, 100.0),
        chroma_offset=(6.0, -7.0),
        chroma_scale=(93.0, 102.0),
        bin_grid=10.0,  # Zhang et al.'s grid: 261 cells of the sRGB gamut (they kept 313, more than sRGB reaches)
        from_rgb=from_rgb,
        to_rgb=to_rgb,
    )
)
