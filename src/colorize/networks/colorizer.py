"""A trained colorizer as a plain ``nn.Module``: normalised L in, normalised chroma out, in one colour space.

A colorizer is a body (:mod:`colorize.networks.bodies`) and a head (:mod:`colorize.networks.heads`). Its
:class:`ColorizerSpec` says how to build it again: the space, the body and the head by name, and the model options
they read. The LightningModule of a family trains one; predict, evaluate, export, the demo and video use it alone.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from omegaconf import OmegaConf
from torch import Tensor, nn

from colorize.networks.bins import DEFAULT_GRID, gamut_bins
from colorize.networks.bodies import BODIES, Built
from colorize.networks.heads import BinHead, ChromaHead
from colorize.spaces import ColorSpace, get_space


@dataclass(frozen=True)
class ColorizerSpec:
    space: str  # lab | luv
    body: str  # a name in BODIES
    head: str  # a name in HEADS
    options: Mapping[str, Any] = field(default_factory=dict)  # the model options: the body's and the head's among them


def chroma_head(in_channels: int, space: ColorSpace, options: Any) -> nn.Module:
    return ChromaHead(in_channels)


def bin_head(in_channels: int, space: ColorSpace, options: Any) -> nn.Module:
    """The bins of the space's sRGB gamut at ``options.grid`` (None: the space's default grid)."""
    centres = gamut_bins(space, options.get("grid") or DEFAULT_GRID[space.name])
    return BinHead(in_channels, centres, space.chroma_offset, space.chroma_scale, options.temperature)


# How the body's features become the output: (body channels, space, options) -> head.
HEADS: dict[str, Callable[[int, ColorSpace, Any], nn.Module]] = {"chroma": chroma_head, "bins": bin_head}


class Colorizer(nn.Module):
    """Normalised L (B, 1, H, W) -> normalised chroma (B, 2, H, W) in [-1, 1] of ``spec.space``."""

    def __init__(self, body: nn.Module, head: nn.Module, spec: ColorizerSpec) -> None:
        super().__init__()
        self.body = body
        self.head = head
        self.spec = spec
        self.space = get_space(spec.space)

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def forward(self, lightness: Tensor) -> Tensor:
        return self.head(self.body(lightness))


def build_colorizer(spec: ColorizerSpec, load_weights: bool = False) -> Built:
    """The colorizer of ``spec``, and how its weights were initialised. ``load_weights=False`` builds the architecture
    only (no download, no weights file), for a trained colorizer whose state dict is loaded next."""
    options = OmegaConf.create(dict(spec.options))
    body, init = BODIES[spec.body].build(options, 1, load_weights)
    head = HEADS[spec.head](body.out_channels, get_space(spec.space), options)
    return Built(Colorizer(body, head, spec), init)
