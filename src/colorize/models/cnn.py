"""``cnn``: a plain convolutional encoder-decoder autoencoder, trained with a pixel loss."""

from __future__ import annotations

from dataclasses import dataclass

from colorize.models.registry import ModelFamily, register
from colorize.models.regression import RegressionOptions
from colorize.networks.bodies import CNNOptions
from colorize.options import option


@dataclass
class CNN(CNNOptions, RegressionOptions):
    """A plain convolutional encoder-decoder (autoencoder), regressing chroma with a pixel loss."""

    body: str = option("cnn", choices=("cnn",))  # the family's own body


FAMILY = register(ModelFamily("cnn", CNN, "colorize.models.modules.regression:RegressionColorizer"))
