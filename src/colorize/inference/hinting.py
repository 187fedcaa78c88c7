"""Colour hints a person gives, as a colorizer's inputs: points of a hints file, and a reference photo's global hint.

The hints file, the hint map, a reference's global vector and the checks on them are :mod:`colorize.portable`'s (its
docstring gives the file's format), shared with the exported ``onnx_predict.py``; here their arrays become tensors and
their errors :class:`HintError`. A hints file's points are in pixels of the full-size photo; they are painted at whatever
size the network sees the photo (the working size, padded), so one file serves every ``--size``. A reference photo is
seen, as training saw its photos, with its shorter side at the working size. torch is imported only where a tensor is
made, so that ``predict`` reads and checks a hints file before it imports torch.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from colorize import portable
from colorize.errors import UserError
from colorize.images import read_rgb
from colorize.networks.hint_options import HINT_KINDS
from colorize.portable import UserHint

if TYPE_CHECKING:
    from torch import Tensor

    from colorize.networks.colorizer import Colorizer
    from colorize.spaces import ColorSpace


class HintError(UserError, ValueError):
    """Hints that cannot be used: a malformed hints file, a hint outside the photo, or a model trained without hints."""


@contextmanager
def _hint_errors() -> Iterator[None]:
    """colorize.portable's hint errors as :class:`HintError`, with the same message."""
    try:
        yield
    except portable.HintFileError as e:
        raise HintError(str(e)) from None


def parse_hints(text: str, photo_size: tuple[int, int], source: str = "hints file") -> list[UserHint]:
    """The hints of a hints file's text, checked against the photo's (width, height)."""
    with _hint_errors():
        return portable.parse_hints(text, photo_size, source)


def read_hints(path: str | Path, photo_size: tuple[int, int]) -> list[UserHint]:
    """Read and check a hints file against the photo's (width, height)."""
    with _hint_errors():
        return portable.read_hints(path, photo_size)


def check_hints_supported(trained: str, local: bool, global_: bool) -> None:
    """Refuse hints (``local``: a hints file, ``global_``: a reference photo) that a model trained with
    ``model.hints=trained`` cannot take."""
    kind = HINT_KINDS[trained]
    with _hint_errors():
        portable.check_hints_taken(trained, kind.local, kind.global_, local, global_)


def hint_colours(hints: Sequence[UserHint], space: ColorSpace) -> np.ndarray:
    """Normalised chroma (K, 2) in ``space`` of the hints' 8-bit sRGB colours, each at its own lightness: what training
    gives the network, the true chroma of the true colour, is that same thing."""
    import torch

    rgb = torch.tensor([list(hint.rgb) for hint in hints], dtype=torch.float32).T[:, None, :] / 255  # (3, 1, K)
    return space.encode(rgb)[1][:, 0, :].T.numpy()


@dataclass(frozen=True)
class UserHints:
    """A person's hints for one photo: ``points`` on it (from a hints file) and a reference's ``global_vector`` (1, Q + 3)."""

    points: Sequence[UserHint] = ()
    photo_size: tuple[int, int] = (1, 1)  # (width, height) of the photo the points are on
    global_vector: Tensor | None = None

    def inputs(self, colorizer: Colorizer, lightness: Tensor) -> dict[str, Tensor]:
        """The keyword inputs of ``colorizer`` for L (B, 1, h, w) of the photo at any size: those given, on its device."""
        import torch

        batch, _, height, width = lightness.shape
        inputs = {}
        if self.points:
            colours = hint_colours(self.points, colorizer.space)
            maps = portable.hint_maps(self.points, self.photo_size, (height, width), colours)
            inputs["hint"], inputs["mask"] = (torch.from_numpy(m).expand(batch, -1, -1, -1) for m in maps)
        if self.global_vector is not None:
            inputs["global_vector"] = self.global_vector.expand(batch, -1)
        return {name: value.to(lightness.device) for name, value in inputs.items()}


def reference_vector(colorizer: Colorizer, rgb: Tensor, size: int) -> Tensor:
    """The global hint (1, Q + 3) of a reference photo, uint8 RGB (3, H, W), seen with its shorter side at ``size``."""
    import torch

    array = rgb.permute(1, 2, 0).cpu().numpy()
    return torch.from_numpy(portable.global_hint(array, size, colorizer.space.name, colorizer.hint_bins.layout()))


def with_model(colorizer: Colorizer, hints: UserHints, reference: str | Path | None, size: int) -> UserHints:
    """``hints`` (points read before the model, :func:`read_hints`) with ``reference``'s global vector (``--reference``,
    or None), once ``colorizer`` is known: refuses, before reading the reference, a kind of hint it was not trained to take.
    """
    check_hints_supported(colorizer.hints, bool(hints.points), reference is not None)
    if reference is None:
        return hints
    return replace(hints, global_vector=reference_vector(colorizer, read_rgb(reference, min_side=size), size))
