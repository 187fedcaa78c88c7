"""The one table of colour spaces that the config, ``--help``, sweeps, models, data, inference and reports read.

A space is declared in one module, ``colorize/spaces/<name>.py``: a :class:`ColorSpace` with its conversions to and
from RGB (batched on the batch's device, differentiable), its normalisation, its lightness channel and its classify
bin grid, registered with :func:`register`. Declarations import neither torch nor kornia: they are imported inside
the conversions, so that the config reads the spaces' names at once.

The contract every space keeps (``tests/test_spaces.py`` checks it for each registered space):

* ``from_rgb`` takes sRGB in [0, 1], shape (..., 3, H, W), to (lightness, chroma1, chroma2) in the space's own units;
  ``to_rgb`` is its inverse, and does not clamp (values outside [0, 1] are colours outside the sRGB gamut).
* Chroma (0, 0) is grey at every lightness, and every lightness of the range has its grey in the gamut: so
  :meth:`ColorSpace.decode_in_gamut` can always bisect a colour towards grey keeping its lightness.
* Normalisation is affine per channel. ``lightness_range`` is the lightness of black and of white, mapped to -1 and 1;
  each chroma channel maps through ``(c - offset) / scale``, with constants that put every 8-bit sRGB colour inside
  [-1, 1] (checked over all 2^24 of them) and reach beyond ±0.95 on each side.
* ``bin_grid`` is the side of a classify bin's cell, in chroma units: chosen so that the space's sRGB gamut fills
  about as many cells as Lab's at Zhang et al.'s grid 10 (261), so that bins are comparable across spaces.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from colorize.options import ConfigError, suggest

if TYPE_CHECKING:
    import torch
    from torch import Tensor

# What a model sees and predicts in every space (docs/models.md says why); reports state it beside their tables.
INPUT_CONVENTION = (
    "a model sees its space's own lightness channel, normalised to [-1, 1], and predicts the space's two chroma "
    "channels; decoding keeps the input's lightness"
)


def _without_autocast(like: Tensor) -> torch.autocast:
    """Colour conversions never run under autocast: matrix products in bf16 are off by several Lab units."""
    import torch

    return torch.autocast(like.device.type, enabled=False)


@dataclass(frozen=True)
class ColorSpace:
    """A target space: its conversions to and from RGB, its normalisation, its lightness and its classify bins."""

    name: str  # space=<name>
    summary: str  # one line for --help
    lightness_name: str
    chroma_names: tuple[str, str]
    lightness_range: tuple[float, float]  # the lightness of black and of white, in the space's units
    chroma_offset: tuple[float, float]
    chroma_scale: tuple[float, float]
    bin_grid: float  # side of a classify bin's cell in chroma units (colorize.networks.bins)
    from_rgb: Callable[[Tensor], Tensor]  # RGB in [0, 1] (..., 3, H, W) -> (lightness, chroma1, chroma2), physical
    to_rgb: Callable[[Tensor], Tensor]  # physical (lightness, chroma) -> RGB, unclamped

    @property
    def lightness_offset(self) -> float:
        return (self.lightness_range[0] + self.lightness_range[1]) / 2

    @property
    def lightness_scale(self) -> float:
        return (self.lightness_range[1] - self.lightness_range[0]) / 2

    @property
    def bin_sigma(self) -> float:
        """Width of classify's Gaussian soft encoding and prior smoothing: half a cell (Zhang et al.'s 5 at Lab's 10)."""
        return self.bin_grid / 2

    def _constants(self, like: Tensor) -> tuple[Tensor, Tensor]:
        import torch

        offset = torch.tensor((self.lightness_offset, *self.chroma_offset), device=like.device, dtype=like.dtype)
        scale = torch.tensor((self.lightness_scale, *self.chroma_scale), device=like.device, dtype=like.dtype)
        return offset.view(3, 1, 1), scale.view(3, 1, 1)

    def rgb_to_space(self, rgb: Tensor) -> Tensor:
        """RGB in [0, 1], shape (..., 3, H, W) -> (lightness, chroma1, chroma2) in physical units."""
        with _without_autocast(rgb):
            return self.from_rgb(rgb)

    def space_to_rgb(self, lcc: Tensor) -> Tensor:
        """Physical (lightness, chroma) -> RGB clamped to the displayable [0, 1]."""
        return self._unclamped_rgb(lcc).clamp(0.0, 1.0)

    def normalize(self, lcc: Tensor) -> tuple[Tensor, Tensor]:
        offset, scale = self._constants(lcc)
        normalised = (lcc - offset) / scale
        return normalised[..., :1, :, :], normalised[..., 1:, :, :]

    def denormalize(self, lightness: Tensor, chroma: Tensor) -> Tensor:
        import torch

        offset, scale = self._constants(chroma)
        return torch.cat([lightness.to(chroma.dtype), chroma], dim=-3) * scale + offset

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
            return self.to_rgb(lcc)

    def decode_in_gamut(self, lightness: Tensor, chroma: Tensor, steps: int = 14) -> Tensor:
        """Like :meth:`decode`, but keeping the lightness: a colour outside the sRGB gamut loses chroma, not lightness.

        :meth:`decode` clamps RGB, which changes the lightness where the chroma cannot exist at it (in LUV, any
        chroma near black: a dark pixel turns bright). Here each such pixel's chroma is scaled towards grey, keeping
        its hue, to the gamut's edge (found by bisection, ``steps`` halvings); grey exists at every lightness. The
        result's lightness is the input's, within float error.
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
        return (zeros.to(lightness.dtype) - offset[1:]) / scale[1:]


SPACES: dict[str, ColorSpace] = {}


def register(space: ColorSpace) -> ColorSpace:
    if space.name in SPACES and SPACES[space.name] != space:
        raise ValueError(f"Two colour spaces are named {space.name!r}.")
    SPACES[space.name] = space
    return space


def get_space(name: str) -> ColorSpace:
    try:
        return SPACES[name]
    except KeyError:
        raise ConfigError(
            f"Unknown colour space {name!r}. Choose one of: {', '.join(SPACES)}.{suggest(str(name), list(SPACES))}"
        ) from None


def mix(matrix: tuple[tuple[float, float, float], ...], image: Tensor) -> Tensor:
    """A 3x3 ``matrix`` applied to the channels of ``image`` (..., 3, H, W), as sums of products: a matrix product
    would run in TF32 on a GPU that allows it, rounding to 10 bits."""
    import torch

    first, second, third = image.unbind(-3)
    rows = [torch.add(torch.add(first * a, second, alpha=b), third, alpha=c) for a, b, c in matrix]
    return torch.stack(rows, dim=-3)
