"""Plain ``nn.Module`` networks; they know nothing of Lightning, files or colour spaces."""

from __future__ import annotations

from typing import Any

from torch import nn

from colorize.networks.autoencoder import ConvAutoencoder


def build_generator(model_cfg: Any) -> nn.Module:
    """The network that maps normalised L (B, 1, H, W) to normalised chroma (B, 2, H, W).

    A cnn or resnet model is its own generator; a gan names its generator in ``model.generator``.
    """
    name = model_cfg.get("generator", model_cfg.name)
    if name == "cnn":
        return ConvAutoencoder(in_channels=1, out_channels=2, base_channels=model_cfg.base_channels)
    raise ValueError(f"No generator network for model {name!r}.")
