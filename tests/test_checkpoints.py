"""Checkpoints: colorize's own load safely (weights only); anything else is refused by name; writes are atomic."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import colorize.training.checkpoint_io
from colorize.checkpoints import FORMAT, CheckpointError, read_checkpoint
from colorize.inference.loading import load_colorizer
from colorize.networks.colorizer import Colorizer
from colorize.train import main
from colorize.training.checkpoint_io import AtomicCheckpointIO
from colorize.training.fit import train
from conftest import TINY, tiny_config


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A real checkpoint from a one-step run."""
    tmp_path = tmp_path_factory.mktemp("trained")
    result = train(tiny_config(tmp_path, "trainer.fast_dev_run=false", "trainer.max_steps=1", "logger=none"))
    return result.run.dir / "checkpoints" / "last.ckpt", result.module


def test_colorize_checkpoints_load_with_weights_only(trained):
    path, module = trained
    checkpoint = torch.load(path, weights_only=True)  # everything in it, hyper_parameters included
    assert checkpoint["colorize"]["format"] == FORMAT and checkpoint["hyper_parameters"]["space"] == "lab"
    loaded = load_colorizer(path)
    assert isinstance(loaded, Colorizer) and not loaded.training
    assert "lightning" not in type(loaded).__module__
    for (name, a), b in zip(module.net.state_dict().items(), loaded.state_dict().values()):
        assert torch.equal(a.cpu(), b), name


class Payload:
    """Unpickling this would run code (here: create a file); weights_only loading must refuse it."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def write_foreign(kind: str, path) -> None:
    if kind == "text":
        path.write_text("these are not the weights you are looking for")
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "state_dict":  # e.g. a timm or torchvision model's weights
        torch.save(nn.Linear(2, 2).state_dict(), path)
    elif kind == "code":
        torch.save({"colorize": {"format": FORMAT}, "payload": Payload(path.with_suffix(".ran"))}, path)
    elif kind == "truncated":
        torch.save({"colorize": {"format": FORMAT}, "w": torch.zeros(1000)}, path)
        path.write_bytes(path.read_bytes()[:500])


@pytest.mark.parametrize("kind", ["text", "empty", "state_dict", "code", "truncated"])
def test_foreign_files_are_refused_by_name(tmp_path, kind):
    path = tmp_path / f"{kind}.ckpt"
    write_foreign(kind, path)
    with pytest.raises(CheckpointError, match=rf"{kind}.ckpt.*not a colorize checkpoint.*colorize.train"):
        load_colorizer(path)
    assert not path.with_suffix(".ran").exists()


def test_missing_file_is_named(tmp_path):
    with pytest.raises(CheckpointError, match="nowhere.ckpt: no such checkpoint file"):
        read_checkpoint(tmp_path / "nowhere.ckpt")


# Format 1 is upgraded on reading (test below); format 0 never was.
@pytest.mark.parametrize("offset, advice", [(1, "Upgrade colorize"), (-FORMAT, "colorize version that wrote it")])
def test_other_format_versions_are_refused(tmp_path, trained, offset, advice):
    checkpoint = torch.load(trained[0], weights_only=True)
    checkpoint["colorize"] = {"format": FORMAT + offset, "version": "9.9"}
    torch.save(checkpoint, tmp_path / "other.ckpt")
    with pytest.raises(CheckpointError, match=rf"other.ckpt was written by colorize 9.9 in checkpoint format.*{advice}"):
        load_colorizer(tmp_path / "other.ckpt")


def test_resume_from_a_foreign_file_fails_before_training(tmp_path, capsys):
    path = tmp_path / "weights.ckpt"
    write_foreign("state_dict", path)
    assert main([*TINY, f"runs_dir={tmp_path / 'runs'}", f"resume={path}"]) == 2
    err = capsys.readouterr().err
    assert "weights.ckpt is a torch file but not a colorize checkpoint" in err and "Traceback" not in err
    assert not (tmp_path / "runs").exists()


def test_a_write_killed_halfway_leaves_the_previous_checkpoint_intact(tmp_path, monkeypatch):
    path = tmp_path / "last.ckpt"
    io = AtomicCheckpointIO()
    io.save_checkpoint({"colorize": {"format": FORMAT}, "w": torch.ones(1000)}, path)
    before = path.read_bytes()

    def dies_halfway(obj, f):
        f.write(before[: len(before) // 2])
        raise KeyboardInterrupt  # what a signal turns into in Python

    monkeypatch.setattr(colorize.training.checkpoint_io.torch, "save", dies_halfway)
    with pytest.raises(KeyboardInterrupt):
        io.save_checkpoint({"colorize": {"format": FORMAT}, "w": torch.zeros(1000)}, path)
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["last.ckpt"]


WRITER = """
import sys, torch
from colorize.training.checkpoint_io import AtomicCheckpointIO
io, n = AtomicCheckpointIO(), 0
while True:
    n += 1
    io.save_checkpoint({"n": n, "w": torch.full((1_000_000,), float(n))}, sys.argv[1])
    print(n, flush=True)
"""


@pytest.mark.slow
def test_sigkill_during_checkpoint_writes_never_leaves_a_broken_file(tmp_path):
    """A real kill -9 while a 4 MB checkpoint is rewritten in a loop: the file is always a whole one."""
    path = tmp_path / "last.ckpt"
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True)
    for _ in range(3):  # let a few writes complete, then kill it in the middle of the next ones
        proc.stdout.readline()
    time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    checkpoint = torch.load(path, weights_only=True)
    assert checkpoint["n"] >= 3 and torch.all(checkpoint["w"] == checkpoint["n"])
    leftovers = [p.name for p in tmp_path.iterdir() if p != path]
    assert all(name.startswith(".last.ckpt.") and name.endswith(".tmp") for name in leftovers)


@pytest.mark.parametrize("model", ["cnn", "gan"])
def test_a_checkpoint_from_before_the_model_registry_still_loads_and_predicts_the_same(model):
    """tests/data/README.md: written by colorize 0.1.0 at commit 398bea2, with what it predicted then."""
    data = Path(__file__).parent / "data"
    colorizer = load_colorizer(data / f"v0.1.0-{model}-luv.ckpt")
    assert colorizer.spec.options["name"] == model and colorizer.space.name == "luv"
    expected = torch.from_numpy(np.load(data / "v0.1.0-outputs.npz")[model])
    with torch.no_grad():
        predicted = colorizer(torch.linspace(-1, 1, 960).reshape(1, 1, 24, 40))
    torch.testing.assert_close(predicted, expected)


@pytest.mark.parametrize("command", ["evaluate", "predict", "export"])
def test_a_checkpoint_pattern_that_matched_several_files_is_named_as_such(tmp_path, capsys, command):
    """make evaluate CKPT=runs/x/checkpoints/best-*.ckpt, where the shell expands the pattern to two files."""
    import importlib

    first, second = tmp_path / "best-epoch=001.ckpt", tmp_path / "best-epoch=002.ckpt"
    rest = [str(tmp_path / "in.jpg"), str(tmp_path / "out")] if command == "predict" else []
    with pytest.raises(SystemExit) as info:
        importlib.import_module(f"colorize.{command}").main([str(first), str(second), *rest])
    err = capsys.readouterr().err
    assert info.value.code == 2
    assert f"the checkpoint argument takes one file, but got 2 ({first}, {second})" in err
    assert "a pattern such as best-*.ckpt matched several files" in err


def test_a_saved_config_of_format_1_is_upgraded_once_wherever_the_run_is_read(tmp_path):
    """A run directory from colorize 0.1.0: gan's body under model.generator, and every source's data keys."""
    from omegaconf import OmegaConf

    from colorize.config import load_config
    from colorize.runs import Run, find_runs
    from colorize.train import config_for

    saved = OmegaConf.to_container(load_config([*TINY, "model=gan", "model.ndf=8"]), resolve=True)
    saved["model"]["generator"] = saved["model"].pop("body")
    saved["data"]["root"] = None  # the folder source's key, which format 1 kept beside the sample source's
    run_dir = tmp_path / "runs" / "old-gan"
    (run_dir / "checkpoints").mkdir(parents=True)
    OmegaConf.save(OmegaConf.create(saved), run_dir / "config.yaml")

    run = Run.of_checkpoint(run_dir / "checkpoints" / "last.ckpt")
    assert run.config.model.body == "cnn" and "generator" not in run.config.model and "root" not in run.config.data
    assert OmegaConf.to_container(find_runs(tmp_path / "runs")[0].config) == OmegaConf.to_container(run.config)
    resumed = config_for([f"resume={run_dir / 'checkpoints' / 'last.ckpt'}", "trainer.max_epochs=3"])
    assert resumed.model.body == "cnn" and resumed.model.ndf == 8 and resumed.trainer.max_epochs == 3
