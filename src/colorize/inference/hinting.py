"""Colour hints a person gives, as a colorizer's inputs: points of a hints file, and a reference photo's global hint.

The hints file's format is :mod:`colorize.networks.hints`'s. Its points are in pixels of the full-size photo; they are
painted at whatever size the network sees the photo (the working size, padded), so one file serves every ``--size``.
A reference photo is seen, as training saw its photos, with its shorter side at the working size.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from torch import Tensor

from colorize.images import read_rgb, working_shape
from colorize.inference.colorizing import resize
from colorize.networks.colorizer import Colorizer, hint_bins
from colorize.networks.hints import UserHint, check_hints_supported, read_hints, reference_global_hints, user_hint_maps


@dataclass(frozen=True)
class UserHints:
    """A person's hints for one photo: ``points`` on it (from a hints file) and a reference's ``global_vector`` (1, Q + 3)."""

    points: Sequence[UserHint] = ()
    photo_size: tuple[int, int] = (1, 1)  # (width, height) of the photo the points are on
    global_vector: Tensor | None = None

    def inputs(self, colorizer: Colorizer, lightness: Tensor) -> dict[str, Tensor]:
        """The keyword inputs of ``colorizer`` for L (B, 1, h, w) of the photo at any size: those given, on its device."""
        batch, _, height, width = lightness.shape
        inputs = {}
        if self.points:
            hint, mask = user_hint_maps(self.points, self.photo_size, (height, width), colorizer.space)
            inputs["hint"], inputs["mask"] = hint.expand(batch, -1, -1, -1), mask.expand(batch, -1, -1, -1)
        if self.global_vector is not None:
            inputs["global_vector"] = self.global_vector.expand(batch, -1)
        return {name: value.to(lightness.device) for name, value in inputs.items()}


def reference_vector(colorizer: Colorizer, rgb: Tensor, size: int) -> Tensor:
    """The global hint (1, Q + 3) of a reference photo, uint8 RGB (3, H, W), seen with its shorter side at ``size``."""
    shape = working_shape(*rgb.shape[-2:], size)
    small = resize(rgb[None].float() / 255, shape).clamp(0, 1)
    return reference_global_hints(small, colorizer.space, hint_bins(colorizer.spec))


def load_user_hints(
    colorizer: Colorizer,
    hints_file: str | Path | None,
    reference: str | Path | None,
    photo_size: tuple[int, int],
    size: int,
) -> UserHints:
    """The hints of ``--hints`` (points on a photo of ``photo_size`` (width, height)) and ``--reference``, either None.

    Refuses, before reading either file, a kind of hint the model was not trained to take.
    """
    check_hints_supported(colorizer.hints, hints_file is not None, reference is not None)
    points = read_hints(hints_file, photo_size) if hints_file is not None else ()
    vector = reference_vector(colorizer, read_rgb(reference, min_side=size), size) if reference is not None else None
    return UserHints(tuple(points), photo_size, vector)
