"""Colour spaces (one declaration module each: lab, luv, oklab, ycbcr, ...), their registry, and the common metric space.

Importing this package imports every module in it, so each space registers itself in :data:`SPACES` (in the order of
their names): a new space is a new module here and nothing else. Nothing here imports torch or kornia at import time.
:mod:`colorize.spaces.registry` states what a space declares and the contract it keeps.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import TYPE_CHECKING

from colorize.spaces.registry import INPUT_CONVENTION, SPACES, ColorSpace, get_space, register

for _module in pkgutil.iter_modules(__path__):
    if not _module.ispkg:
        importlib.import_module(f"{__name__}.{_module.name}")

from colorize.spaces.lab import LAB as METRIC_SPACE  # noqa: E402  (the common space of ΔE and the reports' references)

if TYPE_CHECKING:
    from torch import Tensor


def rgb_to_lab(rgb: Tensor) -> Tensor:
    """CIE Lab of an RGB batch in [0, 1], in :data:`METRIC_SPACE`: what ΔE is computed on."""
    return METRIC_SPACE.rgb_to_space(rgb)


__all__ = ["INPUT_CONVENTION", "METRIC_SPACE", "SPACES", "ColorSpace", "get_space", "register", "rgb_to_lab"]
