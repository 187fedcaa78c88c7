"""``resnet``: transfer learning with a timm encoder and a U-Net decoder, trained with a pixel loss."""

from __future__ import annotations

from dataclasses import dataclass

from colorize.models.registry import ModelFamily, register
from colorize.models.regression import RegressionOptions
from colorize.networks.bodies import ResNetOptions
from colorize.options import option


@dataclass
class ResNet(ResNetOptions, RegressionOptions):
    """A pretrained timm encoder (ResNet) with a U-Net decoder, regressing chroma with a pixel loss."""

    body: str = option("resnet", choices=("resnet",))  # the family's own body


FAMILY = register(ModelFamily("resnet", ResNet, "colorize.models.modules.regression:RegressionColorizer"))
