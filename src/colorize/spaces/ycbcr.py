"""``ycbcr``: Y'CbCr of ITU-R BT.601 at full range, as JPEG (JFIF) stores colour; what Ballester et al. call YUV.

A linear map of gamma-encoded sRGB: Y' = 0.299 R + 0.587 G + 0.114 B, Cb = (B - Y') / 1.772, Cr = (R - Y') / 1.402,
with Cb and Cr centred on 0 (JPEG adds 128 to store them in 8 bits). Its inverse is the exact inverse matrix. kornia's
``rgb_to_ycbcr`` rounds the chroma factors to 0.564 and 0.713, so it is not used. Gamut over the sRGB cube: Y' [0, 1],
Cb and Cr [-0.5, 0.5], a hexagon in the chroma plane.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from colorize.spaces.registry import ColorSpace, mix, register

if TYPE_CHECKING:
    from torch import Tensor

KR, KB = 0.299, 0.114  # BT.601's luma weights of red and blue
KG = 1 - KR - KB
RGB_TO_YCBCR = (
    (KR, KG, KB),
    (-KR / (2 * (1 - KB)), -KG / (2 * (1 - KB)), 0.5),
    (0.5, -KG / (2 * (1 - KR)), -KB / (2 * (1 - KR))),
)
YCBCR_TO_RGB = (
    (1.0, 0.0, 2 * (1 - KR)),
    (1.0, -2 * KB * (1 - KB) / KG, -2 * KR * (1 - KR) / KG),
    (1.0, 2 * (1 - KB), 0.0),
)


def from_rgb(rgb: Tensor) -> Tensor:
    return mix(RGB_TO_YCBCR, rgb)


def to_rgb(ycbcr: Tensor) -> Tensor:
    return mix(YCBCR_TO_RGB, ycbcr)


YCBCR = register(
    ColorSpace(
        "ycbcr",
        "Y'CbCr (BT.601 full range, as JPEG): luma Y' and chroma Cb, Cr, a linear map of gamma-encoded sRGB",
        lightness_name="Y'",
        chroma_names=("Cb", "Cr"),
        lightness_range=(0.0, 1.0),
        chroma_offset=(0.0, 0.0),
        chroma_scale=(0.505, 0.505),
        bin_grid=0.0565,  # the grid, in steps of 0.0005, whose sRGB gamut fills the number of cells nearest Lab's: 261
        from_rgb=from_rgb,
        to_rgb=to_rgb,
    )
)
