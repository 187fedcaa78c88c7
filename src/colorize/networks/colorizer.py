"""A trained colorizer as a plain ``nn.Module``: normalised L in, normalised chroma out, in one colour space.

A colorizer is a body (:mod:`colorize.networks.bodies`) and a head (:mod:`colorize.networks.heads`), and, for a model
trained with colour hints (``model.hints``), a :class:`~colorize.networks.hints.HintEncoder` that joins the hints to L at
the body's input (its input convolutions widened with zero weights, so pretrained weights keep their meaning). Its
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

from colorize.networks.bins import gamut_bins
from colorize.networks.bodies import BODIES, Built
from colorize.networks.heads import BinHead, ChromaHead
from colorize.networks.hint_field import DenseHints, HintPaths
from colorize.networks.hint_options import HINT_KINDS, HintKind
from colorize.networks.hints import HintEncoder, HistogramBins, histogram_bins
from colorize.spaces import ColorSpace, get_space


@dataclass(frozen=True)
class ColorizerSpec:
    space: str  # a name in colorize.spaces.SPACES
    body: str  # a name in BODIES
    head: str  # a name in HEADS
    options: Mapping[str, Any] = field(default_factory=dict)  # the model options: the body's and the head's among them


def chroma_head(in_channels: int, space: ColorSpace, options: Any) -> nn.Module:
    return ChromaHead(in_channels)


def bin_head(in_channels: int, space: ColorSpace, options: Any) -> nn.Module:
    """The bins of the space's sRGB gamut at ``options.grid`` (None: the space's own ``bin_grid``), predicted per block of
    ``options.head_stride`` pixels."""
    centres = gamut_bins(space, options.get("grid") or space.bin_grid)
    return BinHead(in_channels, centres, space.chroma_offset, space.chroma_scale, options.temperature, options.head_stride)


# How the body's features become the output: (body channels, space, options) -> head.
HEADS: dict[str, Callable[[int, ColorSpace, Any], nn.Module]] = {"chroma": chroma_head, "bins": bin_head}


class Colorizer(nn.Module):
    """Normalised L (B, 1, H, W) -> normalised chroma (B, 2, H, W) in [-1, 1] of ``spec.space``.

    A model trained with hints also takes the local hint map (B, 2, H, W) and mask (B, 1, H, W) and the global vector
    (B, :attr:`global_length`) of :mod:`colorize.networks.hints`; a hint not given is zeros (no hint). One trained with
    global hints owns the bins of their histogram (:attr:`hint_bins`), which every reader of the global vector asks it for.
    Local hints also take the paths of the dense hint field (:mod:`colorize.networks.hint_field`, ``hint_paths``):
    into the body's decoder stages, and a blend of the head's chroma towards the field.
    """

    def __init__(
        self,
        body: nn.Module,
        head: nn.Module,
        spec: ColorizerSpec,
        hint_encoder: HintEncoder | None = None,
        hint_bins: HistogramBins | None = None,
        hint_paths: HintPaths | None = None,
    ) -> None:
        super().__init__()
        self.body = body
        self.head = head
        self.hint_encoder = hint_encoder
        self.hint_paths = hint_paths  # the dense hint field's paths (model.hint_field, model.hint_blend)
        self.spec = spec
        self.space = get_space(spec.space)
        # Built once from the spec, not weights: a plain attribute, so state dicts stay as they were.
        self.hint_bins = hint_bins

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @property
    def hints(self) -> str:
        """``model.hints`` it was trained with: none, local, global or both."""
        return self.spec.options.get("hints") or "none"

    @property
    def hint_kind(self) -> HintKind:
        return HINT_KINDS[self.hints]

    @property
    def global_length(self) -> int:
        """Length of the global hint vector it takes (0: none)."""
        project = self.hint_encoder.project if self.hint_encoder is not None else None
        return project.in_features if project is not None else 0

    def inputs(
        self, lightness: Tensor, hint: Tensor | None = None, mask: Tensor | None = None, global_vector: Tensor | None = None
    ) -> Tensor:
        """What the body sees: L, then the hint channels (zeros for a hint not given)."""
        if self.hint_encoder is None:
            if hint is not None or mask is not None or global_vector is not None:
                raise ValueError("This model was trained without colour hints (model.hints=none); it takes L alone.")
            return lightness
        if self.hint_kind.local:
            hint, mask = self.local_maps(lightness, hint, mask)
        if self.hint_kind.global_ and global_vector is None:
            global_vector = lightness.new_zeros(len(lightness), self.global_length)
        return self.hint_encoder(lightness, hint, mask, global_vector)

    @staticmethod
    def local_maps(lightness: Tensor, hint: Tensor | None, mask: Tensor | None) -> tuple[Tensor, Tensor]:
        """The hint map and mask, zeros for those not given."""
        batch, _, height, width = lightness.shape
        hint = lightness.new_zeros(batch, 2, height, width) if hint is None else hint
        return hint, lightness.new_zeros(batch, 1, height, width) if mask is None else mask

    def dense_features(
        self, lightness: Tensor, hint: Tensor | None = None, mask: Tensor | None = None, global_vector: Tensor | None = None
    ) -> tuple[Tensor, DenseHints | None]:
        """The body's features, and the dense hint field they were made with (None for a colorizer without one)."""
        inputs = self.inputs(lightness, hint, mask, global_vector)
        if self.hint_paths is None:
            return self.body(inputs), None
        hint, mask = self.local_maps(lightness, hint, mask)
        dense = self.hint_paths.field(hint.to(inputs.dtype), mask.to(inputs.dtype))
        injection = self.hint_paths.injection(dense)
        return (self.body(inputs) if injection is None else self.body(inputs, injection)), dense

    def features(
        self, lightness: Tensor, hint: Tensor | None = None, mask: Tensor | None = None, global_vector: Tensor | None = None
    ) -> Tensor:
        return self.dense_features(lightness, hint, mask, global_vector)[0]

    def forward(
        self, lightness: Tensor, hint: Tensor | None = None, mask: Tensor | None = None, global_vector: Tensor | None = None
    ) -> Tensor:
        features, dense = self.dense_features(lightness, hint, mask, global_vector)
        chroma = self.head(features)
        if dense is None or self.hint_paths.blend is None:
            return chroma
        return self.hint_paths.blend(chroma, features, dense)


def hint_encoder(spec: ColorizerSpec, global_length: int = 0) -> HintEncoder | None:
    """The hint encoder of a colorizer trained with ``model.hints`` (None for none); ``global_length``: the length of
    its global vector (:attr:`Colorizer.global_length`), for global hints."""
    kind = spec.options.get("hints") or "none"
    if kind == "none":
        return None
    return HintEncoder(kind, global_length, spec.options.get("hint_global_channels", 8))


def hint_paths(spec: ColorizerSpec, body: nn.Module) -> HintPaths | None:
    """The dense hint field's paths of a colorizer that takes local hints with ``model.hint_field`` or ``model.hint_blend``
    (None otherwise). A checkpoint saved before these options has them as it was built (ModelFamily.saved_defaults)."""
    if not HINT_KINDS[spec.options.get("hints") or "none"].local:
        return None
    field, blend = spec.options["hint_field"], spec.options["hint_blend"]
    if not (field or blend):
        return None
    stages = body.stage_channels if field else None
    return HintPaths(spec.options["hint_field_sigmas"], stages, body.out_channels if blend else None)


def build_colorizer(spec: ColorizerSpec, load_weights: bool = False) -> Built:
    """The colorizer of ``spec``, and how its weights were initialised. ``load_weights=False`` builds the architecture
    only (no download, no weights file), for a trained colorizer whose state dict is loaded next."""
    options = OmegaConf.create(dict(spec.options))
    body, init = BODIES[spec.body].build(options, 1, load_weights)
    # A global hint's histogram bins: the space's at ``grid`` (classify's own bins; else the default).
    global_ = HINT_KINDS[spec.options.get("hints") or "none"].global_
    bins = histogram_bins(get_space(spec.space), spec.options.get("grid")) if global_ else None
    encoder = hint_encoder(spec, bins.global_length if bins is not None else 0)
    if encoder is not None:
        body.widen_input(encoder.extra_channels)  # after loading pretrained weights: the new ones start at zero
    head = HEADS[spec.head](body.out_channels, get_space(spec.space), options)
    return Built(Colorizer(body, head, spec, encoder, bins, hint_paths(spec, body)), init)
