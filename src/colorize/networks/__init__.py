"""Plain ``nn.Module`` networks; they know nothing of Lightning, files or colour spaces."""

from __future__ import annotations

from typing import Any, NamedTuple

from torch import nn

from colorize.config import ConfigError
from colorize.networks.autoencoder import ConvAutoencoder
from colorize.networks.pretrained import RANDOM_INIT, create_encoder, grey_input_stats, resolve_encoder_weights
from colorize.networks.unet import UNet


class Generator(NamedTuple):
    net: nn.Module
    init: str  # how its weights were initialised, for model.init: random | hub:<id> | file:<path>


def build_resnet_unet(options: Any, load_weights: bool) -> Generator:
    weights = resolve_encoder_weights(options.encoder, options.pretrained, options.weights) if load_weights else RANDOM_INIT
    encoder = create_encoder(options.encoder, weights)
    normalise = options.input_norm == "imagenet" or (options.input_norm == "auto" and weights.pretrained)
    mean, std = grey_input_stats(encoder) if normalise else (0.5, 0.5)
    try:
        net = UNet(encoder, decoder_channels=options.decoder_channels, input_mean=mean, input_std=std)
    except ValueError as e:
        raise ConfigError(f"model.decoder_channels={list(options.decoder_channels)}: {e}") from None
    return Generator(net, weights.label)


def build_generator(model_cfg: Any, load_weights: bool = True) -> Generator:
    """The network that maps normalised L (B, 1, H, W) to normalised chroma (B, 2, H, W).

    A cnn or resnet model is its own generator; a gan names its generator in ``model.generator``.
    ``load_weights=False`` builds the architecture only, with no download and no weights file:
    for rebuilding a trained model whose own state dict is loaded next.
    """
    kind = model_cfg.get("generator", model_cfg.name)
    if kind == "cnn":
        return Generator(ConvAutoencoder(in_channels=1, out_channels=2, base_channels=model_cfg.base_channels), "random")
    if kind == "resnet":
        return build_resnet_unet(model_cfg, load_weights)
    raise ValueError(f"No generator network of kind {kind!r}.")
