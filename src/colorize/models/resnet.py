"""``resnet``: transfer learning with a timm encoder and a U-Net decoder, trained with a pixel loss."""

from __future__ import annotations

from dataclasses import dataclass

from colorize.models.bodies import ResNetOptions
from colorize.models.registry import ModelFamily, register
from colorize.models.regression import RegressionColorizer, RegressionOptions


@dataclass
class ResNet(ResNetOptions, RegressionOptions):
    """A pretrained timm encoder (ResNet) with a U-Net decoder, regressing chroma with a pixel loss."""


FAMILY = register(ModelFamily("resnet", ResNet, RegressionColorizer))
