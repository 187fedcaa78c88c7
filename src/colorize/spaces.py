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
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch
    from torch import Tensor

# torch and kornia are imported where they are used: the config reads the spaces' names without them.


def _without_autocast(like: Tensor) -> torch.autocast:
    """Colour conversions never run under autocast: kornia's matrix products in bf16 are off by several Lab units."""
    import torch

    return torch.autocast(like.device.type, enabled=False)


def _kornia(name: str):
    import kornia.color

    return getattr(kornia.color, name)


@dataclass(frozen=True)
class ColorSpace:
    """A target space: its chroma channels, their normalisation, and kornia's conversions to and from RGB."""

    name: str
    chroma_names: tuple[str, str]
    chroma_offset: tuple[float, float]
    chroma_scale: tuple[float, float]
    from_rgb: str  # kornia.color's RGB in [0, 1] -> (L, chroma1, chroma2) in physical units
    to_rgb: str  # kornia.color's physical (L, chroma) -> RGB
    to_rgb_options: tuple[tuple[str, object], ...] = ()  # its keyword arguments that leave RGB unclamped

    def _constants(self, like: Tensor) -> tuple[Tensor, Tensor]:
        import torch

        offset = torch.tensor(self.chroma_offset, device=like.device, dtype=like.dtype).view(2, 1, 1)
        scale = torch.tensor(self.chroma_scale, device=like.device, dtype=like.dtype).view(2, 1, 1)
        return offset, scale

    def rgb_to_space(self, rgb: Tensor) -> Tensor:
        """RGB in [0, 1], shape (..., 3, H, W) -> (L, chroma1, chroma2) in physical units."""
        with _without_autocast(rgb):
            return _kornia(self.from_rgb)(rgb)

    def space_to_rgb(self, lcc: Tensor) -> Tensor:
        """Physical (L, chroma) -> RGB clamped to the displayable [0, 1]."""
        return self._unclamped_rgb(lcc).clamp(0.0, 1.0)

    def normalize(self, lcc: Tensor) -> tuple[Tensor, Tensor]:
        offset, scale = self._constants(lcc)
        lightness = lcc[..., :1, :, :] / 50.0 - 1.0
        chroma = (lcc[..., 1:, :, :] - offset) / scale
        return lightness, chroma

    def denormalize(self, lightness: Tensor, chroma: Tensor) -> Tensor:
        import torch

        offset, scale = self._constants(chroma)
        big_l = (lightness.to(chroma.dtype) + 1.0) * 50.0
        return torch.cat([big_l, chroma * scale + offset], dim=-3)

    def encode(self, rgb: Tensor) -> tuple[Tensor, Tensor]:
        """RGB batch (uint8 in [0, 255] or float in [0, 1]) -> (L_norm, chroma_norm), each in [-1, 1]."""
        if not rgb.is_floating_point():  # uint8
            rgb = rgb.float() / 255.0
        return self.normalize(self.rgb_to_space(rgb))

    def decode(self, lightness: Tensor, chroma: Tensor) -> Tensor:
        """(L_norm, chroma_norm) -> RGB in [0, 1].

        Inputs are clamped to [-1, 1] first: outside that box lie no sRGB colours,
        and LUV's inverse explodes there (values near -2e4 for random input).
        """
        lcc = self.denormalize(lightness.clamp(-1, 1), chroma.float().clamp(-1, 1))
        return self.space_to_rgb(lcc)

    def _unclamped_rgb(self, lcc: Tensor) -> Tensor:
        with _without_autocast(lcc):
            return _kornia(self.to_rgb)(lcc, **dict(self.to_rgb_options))

    def decode_in_gamut(self, lightness: Tensor, chroma: Tensor, steps: int = 14) -> Tensor:
        """Like :meth:`decode`, but keeping L: a colour outside the sRGB gamut loses chroma, not lightness.

        :meth:`decode` clamps RGB, which changes L where the chroma cannot exist at that L (in LUV,
        any chroma near black: a dark pixel turns bright). Here each such pixel's chroma is scaled
        towards grey, keeping its hue, to the gamut's edge (found by bisection, ``steps`` halvings);
        grey always exists at every L. The result's L is the input's L, within float error.
        """
        import torch

        lcc = self.denormalize(lightness.clamp(-1, 1), chroma.float().clamp(-1, 1))
        rgb = self._unclamped_rgb(lcc)
        tolerance = 1e-4
        outside = ((rgb < -tolerance) | (rgb > 1 + tolerance)).any(dim=-3)
        if not outside.any():
            return rgb.clamp(0.0, 1.0)
        # The pixels outside the gamut, as a (3, N, 1) image.
        lcc_out = lcc.movedim(-3, -1)[outside].T.unsqueeze(-1)
        low = torch.zeros_like(lcc_out[:1])
        high = torch.ones_like(low)
        for _ in range(steps):
            mid = (low + high) / 2
            trial = self._unclamped_rgb(torch.cat([lcc_out[:1], lcc_out[1:] * mid]))
            inside = ((trial >= -tolerance) & (trial <= 1 + tolerance)).all(dim=0, keepdim=True)
            low, high = torch.where(inside, mid, low), torch.where(inside, high, mid)
        mapped = self._unclamped_rgb(torch.cat([lcc_out[:1], lcc_out[1:] * low]))
        rgb = rgb.movedim(-3, -1).clone()
        rgb[outside] = mapped.squeeze(-1).T
        return rgb.movedim(-1, -3).clamp(0.0, 1.0)

    def decode_grey(self, lightness: Tensor) -> Tensor:
        """RGB of the grey baseline: this lightness with no colour."""
        return self.decode(lightness, self.grey_chroma(lightness))

    def grey_chroma(self, lightness: Tensor) -> Tensor:
        """Normalised chroma of a colourless image with this lightness (the grey baseline)."""
        import torch

        offset, scale = self._constants(lightness)
        zeros = torch.zeros(*lightness.shape[:-3], 2, *lightness.shape[-2:], device=lightness.device)
        return (zeros.to(lightness.dtype) - offset) / scale


SPACES: dict[str, ColorSpace] = {
    space.name: space
    for space in (
        ColorSpace(
            "lab",
            ("a", "b"),
            chroma_offset=(6.0, -7.0),
            chroma_scale=(93.0, 102.0),
            from_rgb="rgb_to_lab",
            to_rgb="lab_to_rgb",
            to_rgb_options=(("clip", False),),
        ),
        ColorSpace(
            "luv",
            ("u", "v"),
            chroma_offset=(46.0, -13.0),
            chroma_scale=(130.0, 122.0),
            from_rgb="rgb_to_luv",
            to_rgb="luv_to_rgb",
        ),
    )
}


def get_space(name: str) -> ColorSpace:
    try:
        return SPACES[name]
    except KeyError:
        raise ValueError(f"Unknown colour space {name!r}. Choose one of: {', '.join(sorted(SPACES))}.") from None


def rgb_to_lab(rgb: Tensor) -> Tensor:
    """The common space for ΔE: CIE Lab of an RGB batch in [0, 1]."""
    return SPACES["lab"].rgb_to_space(rgb)
