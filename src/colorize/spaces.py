"""The target colour spaces: CIE Lab and CIE LUV.

Both share the lightness channel L; only the two chroma channels differ. A space
turns a batch of RGB images into normalised (L, chroma) on whatever device the
batch is on, and turns normalised (L, chroma) back into displayable RGB. The
conversions are kornia's, so they are batched and differentiable.

Normalisation: L in [0, 100] maps to [-1, 1] in both spaces. Each chroma channel
maps through ``(c - offset) / scale``, with constants chosen so that every colour
of the sRGB gamut (D65) lands inside [-1, 1]; ``tests/test_spaces.py`` checks
this over all 2^24 sRGB colours. Gamut extremes: a [-86.2, 98.2],
b [-107.9, 94.5], u [-83.1, 175.0], v [-134.1, 107.4].
"""

from __future__ import annotations

from dataclasses import dataclass

import kornia.color
import torch
from torch import Tensor


@dataclass(frozen=True)
class ColorSpace:
    name: str
    chroma_names: tuple[str, str]
    chroma_offset: tuple[float, float]
    chroma_scale: tuple[float, float]

    def _constants(self, like: Tensor) -> tuple[Tensor, Tensor]:
        offset = torch.tensor(self.chroma_offset, device=like.device, dtype=like.dtype).view(2, 1, 1)
        scale = torch.tensor(self.chroma_scale, device=like.device, dtype=like.dtype).view(2, 1, 1)
        return offset, scale

    def rgb_to_space(self, rgb: Tensor) -> Tensor:
        """RGB in [0, 1], shape (..., 3, H, W) -> (L, chroma1, chroma2) in physical units."""
        if self.name == "lab":
            return kornia.color.rgb_to_lab(rgb)
        return kornia.color.rgb_to_luv(rgb)

    def space_to_rgb(self, lcc: Tensor) -> Tensor:
        """Physical (L, chroma) -> RGB clamped to the displayable [0, 1]."""
        if self.name == "lab":
            rgb = kornia.color.lab_to_rgb(lcc, clip=False)
        else:
            rgb = kornia.color.luv_to_rgb(lcc)
        return rgb.clamp(0.0, 1.0)

    def normalize(self, lcc: Tensor) -> tuple[Tensor, Tensor]:
        offset, scale = self._constants(lcc)
        lightness = lcc[..., :1, :, :] / 50.0 - 1.0
        chroma = (lcc[..., 1:, :, :] - offset) / scale
        return lightness, chroma

    def denormalize(self, lightness: Tensor, chroma: Tensor) -> Tensor:
        offset, scale = self._constants(chroma)
        big_l = (lightness.to(chroma.dtype) + 1.0) * 50.0
        return torch.cat([big_l, chroma * scale + offset], dim=-3)

    def encode(self, rgb: Tensor) -> tuple[Tensor, Tensor]:
        """RGB batch (uint8 in [0, 255] or float in [0, 1]) -> (L_norm, chroma_norm), each in [-1, 1]."""
        if rgb.dtype == torch.uint8:
            rgb = rgb.float() / 255.0
        return self.normalize(self.rgb_to_space(rgb))

    def decode(self, lightness: Tensor, chroma: Tensor) -> Tensor:
        """(L_norm, chroma_norm) -> RGB in [0, 1].

        Inputs are clamped to [-1, 1] first: outside that box lie no sRGB colours,
        and LUV's inverse explodes there (values near -2e4 for random input).
        """
        lcc = self.denormalize(lightness.clamp(-1, 1), chroma.float().clamp(-1, 1))
        return self.space_to_rgb(lcc)

    def grey_chroma(self, lightness: Tensor) -> Tensor:
        """Normalised chroma of a colourless image with this lightness (the grey baseline)."""
        offset, scale = self._constants(lightness)
        zeros = torch.zeros(*lightness.shape[:-3], 2, *lightness.shape[-2:], device=lightness.device)
        return (zeros.to(lightness.dtype) - offset) / scale


SPACES: dict[str, ColorSpace] = {
    "lab": ColorSpace("lab", ("a", "b"), chroma_offset=(6.0, -7.0), chroma_scale=(93.0, 102.0)),
    "luv": ColorSpace("luv", ("u", "v"), chroma_offset=(46.0, -13.0), chroma_scale=(130.0, 122.0)),
}


def get_space(name: str) -> ColorSpace:
    try:
        return SPACES[name]
    except KeyError:
        raise ValueError(f"Unknown colour space {name!r}. Choose one of: {', '.join(sorted(SPACES))}.") from None


def rgb_to_lab(rgb: Tensor) -> Tensor:
    """The common space for ΔE: CIE Lab of an RGB batch in [0, 1]."""
    return kornia.color.rgb_to_lab(rgb)
