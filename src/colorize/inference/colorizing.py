"""Colorizing whole photos of any size: chroma at a working resolution, L at full resolution.

The network sees the photo's L scaled so that its shorter side is ``size`` pixels (never
enlarged). Its chroma is upsampled bilinearly to the photo's own size and joined with the
photo's full-resolution L. The eye takes detail from lightness and little from chroma, so
the output keeps every detail of the input while the network runs at the size it was trained on.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from colorize.portable import working_shape
from colorize.spaces import ColorSpace

# Encoders that go down to 1/32 (timm ResNets) need sides they can halve five times.
PAD_MULTIPLE = 32

ChromaPredictor = Callable[[Tensor], Tensor]  # normalised L (B, 1, h, w) -> normalised chroma (B, 2, h, w)


class HintInputs(Protocol):
    """A person's hints (:class:`colorize.inference.hinting.UserHints`): the colorizer's hint inputs for an L."""

    def inputs(self, colorizer: nn.Module, lightness: Tensor) -> dict[str, Tensor]: ...


def resize(images: Tensor, shape: tuple[int, int]) -> Tensor:
    """Bilinear resize of a (B, C, H, W) batch; antialiased, so shrinking does not alias."""
    if tuple(images.shape[-2:]) == tuple(shape):
        return images
    return F.interpolate(images, size=shape, mode="bilinear", align_corners=False, antialias=True)


class AnySize(nn.Module):
    """A colorizer's forward for inputs of any size: replicate-padded to a multiple of 32, then cropped back.

    Local hints (hint map and mask) are padded with zeros: no hint there. Written so that an ONNX export keeps the
    padding in its graph for any height and width.
    """

    def __init__(self, colorizer: nn.Module) -> None:
        super().__init__()
        self.colorizer = colorizer

    def forward(
        self, lightness: Tensor, hint: Tensor | None = None, mask: Tensor | None = None, global_vector: Tensor | None = None
    ) -> Tensor:
        height, width = lightness.shape[-2], lightness.shape[-1]
        # Up to the next multiple, written so that an export's shape reasoning sees a padded side of at least one multiple.
        pad_h = (height + PAD_MULTIPLE - 1) // PAD_MULTIPLE * PAD_MULTIPLE - height
        pad_w = (width + PAD_MULTIPLE - 1) // PAD_MULTIPLE * PAD_MULTIPLE - width
        padded = F.pad(lightness, (0, pad_w, 0, pad_h), mode="replicate")
        hints = {"global_vector": global_vector} if global_vector is not None else {}
        if hint is not None and mask is not None:
            hints |= {"hint": F.pad(hint, (0, pad_w, 0, pad_h)), "mask": F.pad(mask, (0, pad_w, 0, pad_h))}
        return self.colorizer(padded, **hints)[..., :height, :width].float()


def network_predictor(colorizer: nn.Module, hints: HintInputs | None = None) -> ChromaPredictor:
    """A colorizer's chroma prediction, for inputs of any size (padded to a multiple of 32, then cropped back);
    ``hints``: a person's colour hints for the photo, at whatever size it is seen."""
    any_size = AnySize(colorizer)

    @torch.inference_mode()
    def predict(lightness: Tensor) -> Tensor:
        return any_size(lightness, **(hints.inputs(colorizer, lightness) if hints is not None else {}))

    return predict


def colorize_lightness(space: ColorSpace, lightness: Tensor, predict: ChromaPredictor, size: int) -> Tensor:
    """Full-resolution normalised L (B, 1, H, W) -> RGB (B, 3, H, W) in [0, 1], chroma predicted at ``size``."""
    small = resize(lightness, working_shape(*lightness.shape[-2:], size))
    chroma = predict(small)
    if chroma.shape[-2:] != lightness.shape[-2:]:
        chroma = F.interpolate(chroma, size=lightness.shape[-2:], mode="bilinear", align_corners=False)
    return space.decode_in_gamut(lightness, chroma)


def colorize_rgb(space: ColorSpace, rgb: Tensor, predict: ChromaPredictor, size: int) -> Tensor:
    """A uint8 or [0, 1] RGB batch (B, 3, H, W) -> its colorization; only the lightness of ``rgb`` is used."""
    lightness, _ = space.encode(rgb)
    return colorize_lightness(space, lightness, predict, size)
