"""``luv``: CIE L*u*v* (D65), Lab's lightness with a chroma plane where additive mixtures lie on lines; kornia's
conversions.

Gamut extremes over the 8-bit sRGB cube: u [-83.1, 175.0], v [-134.1, 107.4]. kornia's inverse has no clip; it
explodes near L* = 0 (values near -2e4 for random input), which the space's decoders clamp or bisect away.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from colorize.spaces.registry import ColorSpace, register

if TYPE_CHECKING:
    from torch import Tensor


def from_rgb(rgb: Tensor) -> Tensor:
    from kornia.color import rgb_to_luv

    return rgb_to_luv(rgb)


def to_rgb(luv: Tensor) -> Tensor:
    from kornia.color import luv_to_rgb

    return luv_to_rgb(luv)


LUV = register(
    ColorSpace(
        "luv",
        "CIE L*u*v* (D65): Lab's lightness L*, chroma u, v with a larger sRGB gamut (pix2pix's ab/110 does not fit it)",
        lightness_name="L*",
        chroma_names=("u", "v"),
        lightness_range=(0.0, 100.0),
        chroma_offset=(46.0, -13.0),
        chroma_scale=(130.0, 122.0),
        bin_grid=13.5,  # the grid, in steps of 0.5, whose sRGB gamut fills the number of cells nearest Lab's: 260
        from_rgb=from_rgb,
        to_rgb=to_rgb,
    )
)
