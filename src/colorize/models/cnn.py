"""``cnn``: a plain convolutional encoder-decoder autoencoder, trained with a pixel loss."""

from __future__ import annotations

from dataclasses import dataclass

from colorize.models.bodies import CNNOptions
from colorize.models.registry import ModelFamily, register
from colorize.models.regression import RegressionColorizer, RegressionOptions


@dataclass
class CNN(CNNOptions, RegressionOptions):
    """A plain convolutional encoder-decoder (autoencoder), regressing chroma with a pixel loss."""


FAMILY = register(ModelFamily("cnn", CNN, RegressionColorizer))
