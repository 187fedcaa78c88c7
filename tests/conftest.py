"""Shared fixtures: a clean W&B environment, small image folders, a small streaming data set, and a tiny training config."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from colorize.config import load_config
from colorize.models import FAMILIES
from colorize.spaces import SPACES

# Small enough that a training step takes well under a second on 2 CPU cores.
TINY_TRAINING = [
    "trainer.accelerator=cpu",
    "trainer.devices=1",
    "data.crop_size=32",
    "data.batch_size=4",
    "data.train_crops_per_image=2",
    "data.val_crops_per_image=2",
    "data.num_workers=0",
    "grid_images=2",
]
# Each body at a size that trains in well under a second; a family is made tiny through its body.
TINY_BODY = {"cnn": ["model.base_channels=8"], "resnet": ["model.encoder=resnet18", "model.decoder_channels=[64,32,16,16,8]"]}
SWEPT = [*TINY_TRAINING, *TINY_BODY["cnn"]]  # for a sweep of cnn, which chooses the model itself
TINY = [*TINY_TRAINING, "model=cnn", *TINY_BODY["cnn"]]  # cnn, the quickest family (a later model= wins)
# What tests run for every model and every space: read from the registries, so a new family is tested too.
MODELS = list(FAMILIES)
SPACE_NAMES = list(SPACES)
# Every family in every space: a cover of both in the fast suite (each family in two spaces, each space with two
# families), the rest in the slow suite.
FAMILY_SPACE_PAIRS = [
    pytest.param(model, space, marks=() if (j - i) % len(SPACE_NAMES) < 2 else pytest.mark.slow)
    for i, model in enumerate(MODELS)
    for j, space in enumerate(SPACE_NAMES)
]


@pytest.fixture(autouse=True)
def _isolated_wandb(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test may need an API key or write into the home directory."""
    home = tmp_path_factory.mktemp("wandb-home")
    for var in ("WANDB_API_KEY", "WANDB_MODE", "WANDB_BASE_URL", "COLORIZE_RUN_DIR"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NETRC", str(home / "netrc"))
    for var in ("WANDB_CACHE_DIR", "WANDB_DATA_DIR", "WANDB_CONFIG_DIR", "WANDB_ARTIFACT_DIR"):
        monkeypatch.setenv(var, str(home / var.lower()))
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def random_photo(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A smooth random colour image (blurry blobs), more photo-like than white noise."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (max(2, height // 8), max(2, width // 8), 3), dtype=np.uint8)
    return np.asarray(Image.fromarray(small).resize((width, height), Image.BILINEAR))


# The streaming data set of `written` (tests/test_streaming.py, tests/test_launchers.py).
TRAIN_PHOTOS, VAL_PHOTOS = 16, 8


def photo_folders(root: Path) -> tuple[Path, Path]:
    train, val = root / "photos", root / "photos-val"
    for i in range(TRAIN_PHOTOS + VAL_PHOTOS):
        folder = train / ("a" if i % 2 else "b") if i < TRAIN_PHOTOS else val
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(random_photo(48 + 2 * i, 64, seed=i)).save(folder / f"img{i:02d}.jpg", quality=95)
    (train / "broken.jpg").write_bytes(b"not a photo")
    return train, val


def prepare_args(photos: Path, val: Path, stream: Path | str, *args: str) -> list[str]:
    return [
        *TINY_TRAINING,
        "data=folder",
        f"data.root={photos}",
        f"data.val_root={val}",
        "data.prepare_size=40",
        f"data.stream_to={stream}",
        "data.num_workers=1",
        *args,
    ]


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory):
    """Photo folders (with one unreadable file) written once as a JPEG stream; returns (photos, val, stream, report)."""
    from colorize.data.prepare import prepare

    root = tmp_path_factory.mktemp("stream")
    photos, val = photo_folders(root)
    report = prepare(load_config(prepare_args(photos, val, root / "stream")).data, progress=False)
    return photos, val, root / "stream", report


@pytest.fixture
def photo_folder(tmp_path: Path) -> Path:
    """Twelve small JPEG/PNG photos in nested folders."""
    root = tmp_path / "photos"
    for i in range(12):
        sub = root / ("a" if i % 2 else "b")
        sub.mkdir(parents=True, exist_ok=True)
        ext = "jpg" if i % 3 else "png"
        Image.fromarray(random_photo(48 + 4 * i, 64, seed=i)).save(sub / f"img{i:02d}.{ext}")
    return root


def tiny_config(tmp_path: Path, *args: str):
    """A config that trains in seconds: TINY_TRAINING, cnn unless args choose a model, and its body made tiny (args win)."""
    base = [*TINY_TRAINING, "model=cnn", f"runs_dir={tmp_path / 'runs'}"]
    body = load_config([*base, *args]).model.body
    return load_config([*base, *TINY_BODY.get(body, []), *args])


def hint_checkpoint(folder: Path, hints: str, space: str = "lab") -> Path:
    """A tiny untrained cnn checkpoint of ``model.hints=hints``, as load_colorizer reads it. Its hint channels, and the
    dense hint field's decoder projections, get random weights: they start at zero, so untrained it would ignore every
    hint; strong ones, so that hints show through an untrained network."""
    import torch

    from colorize.checkpoints import marker
    from colorize.models.modules import build_module
    from colorize.networks.widening import first_conv

    module = build_module(tiny_config(folder, f"model.hints={hints}", f"space={space}"))
    if hints != "none":
        conv, project = first_conv(module.net.body), module.net.hint_encoder.project
        generator = torch.Generator().manual_seed(0)
        with torch.no_grad():
            conv.weight[:, 1:] = torch.randn(conv.weight[:, 1:].shape, generator=generator) * 10
            if project is not None:
                project.weight.copy_(torch.randn(project.weight.shape, generator=generator) * 10)
            paths = module.net.hint_paths
            for parameter in paths.parameters() if paths is not None else ():
                parameter.copy_(torch.randn(parameter.shape, generator=generator))
    path = folder / f"{hints}-{space}.ckpt"
    torch.save({"colorize": marker(), "hyper_parameters": dict(module.hparams), "state_dict": module.state_dict()}, path)
    return path


def copying_colorizer(space: str, hints: str = "local"):
    """A colorizer that must follow local hints: the hint's chroma where the mask is set, grey elsewhere (its body and
    head set by hand, so without the dense hint field's paths)."""
    import torch
    from torch import nn

    from colorize.networks.colorizer import build_colorizer

    net = build_colorizer(
        FAMILIES["cnn"].spec(
            load_config(["model=cnn", f"model.hints={hints}", "model.hint_field=false", "model.hint_blend=false"]).model, space
        )
    ).net
    grey = net.space.grey_chroma(torch.zeros(1, 1, 1, 1))[0, :, 0, 0]
    body = nn.Conv2d(1 + net.hint_encoder.extra_channels, 2, 1)  # L, hint * mask (2), mask, then any global channels
    with torch.no_grad():
        body.weight.zero_()
        body.weight[:, 1:3, 0, 0] = torch.eye(2)
        body.weight[:, 3, 0, 0] = -grey
        body.bias.copy_(grey)
    net.body, net.head = body, nn.Identity()
    return net.eval()


@pytest.fixture(scope="session")
def trained_runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four tiny cnn runs (lab and luv, seeds 0 and 1), two epochs each, logged to CSV; trained once per session."""
    from colorize.training.fit import train

    runs = tmp_path_factory.mktemp("trained") / "runs"
    for space in ("lab", "luv"):
        for seed in (0, 1):
            train(
                load_config(
                    [
                        *TINY,
                        f"runs_dir={runs}",
                        f"name=cnn-{space}-seed{seed}",
                        f"space={space}",
                        f"seed={seed}",
                        "logger=csv",
                        "trainer.max_epochs=2",
                        "trainer.limit_train_batches=2",
                        "trainer.log_every_n_steps=1",
                        "trainer.num_sanity_val_steps=0",
                    ]
                )
            )
    return runs


def add_callback(monkeypatch: pytest.MonkeyPatch, callback) -> None:
    """Make train() add ``callback`` (a Lightning callback) to its trainer: a test's way in, since train() builds its own."""
    import colorize.training.fit

    build = colorize.training.fit.build_trainer

    def build_with(cfg, run, module):
        trainer, checkpoint, interrupt = build(cfg, run, module)
        trainer.callbacks.insert(0, callback)
        return trainer, checkpoint, interrupt

    monkeypatch.setattr(colorize.training.fit, "build_trainer", build_with)


@pytest.fixture(scope="session")
def cnn_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A trained cnn run in lab (one step), as a user would warm-start a gan's generator or a classify body from."""
    from colorize.training.fit import train

    root = tmp_path_factory.mktemp("cnn")
    cfg = tiny_config(root, "model=cnn", "space=lab", "logger=none", "trainer.max_steps=1", "trainer.limit_val_batches=1")
    return train(cfg).run.dir / "checkpoints" / "last.ckpt"
