"""End to end: what a long run does when it is interrupted, diverges, or meets a broken environment."""

import csv
import errno
import itertools
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import lightning as L
import pytest
import torch
from PIL import Image

import colorize.models.modules.regression as regression
import colorize.training.checkpoint_io
import colorize.training.csv_logger
import colorize.training.fit
from colorize.files import DiskFullError
from colorize.train import config_for, main
from colorize.training.callbacks import TrainingDiverged
from colorize.training.fit import train
from conftest import TINY, add_callback, random_photo, tiny_config

RUN = [
    "trainer.max_epochs=2",
    "data.train_crops_per_image=4",  # 28 crops: 7 batches, of which 4 per epoch
    "trainer.limit_train_batches=4",
    "trainer.limit_val_batches=1",
    "trainer.log_every_n_steps=1",
    "trainer.num_sanity_val_steps=0",
    "logger=csv",
]


class SignalAt(L.Callback):
    """Sends this process ``signum`` at the end of the epoch-0 batch ``batch_idx`` (that batch still finishes)."""

    def __init__(self, batch_idx: int, signum: int = signal.SIGTERM) -> None:
        self.batch_idx, self.signum = batch_idx, signum

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if trainer.current_epoch == 0 and batch_idx == self.batch_idx:
            os.kill(os.getpid(), self.signum)


class RandomDraws(L.Callback):
    """Draws from the global torch generator each step, as dropout would, and records what it drew."""

    def __init__(self) -> None:
        self.draws: dict[int, float] = {}

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self.draws[trainer.global_step] = float(torch.rand(()))


def train_losses(run_dir) -> dict[int, dict[str, str]]:
    """Every logged training loss (train/loss; train/g_loss and train/d_loss for the gan) by step."""
    losses: dict[int, dict[str, str]] = {}
    with open(run_dir / "metrics.csv") as f:
        for row in csv.DictReader(f):
            found = {k: v for k, v in row.items() if k.startswith("train/") and k.endswith("loss") and v}
            if found:
                losses.setdefault(int(row["step"]), {}).update(found)
    return losses


def val_metrics(result) -> dict[str, float]:
    return {k: float(v) for k, v in result.trainer.callback_metrics.items() if k.startswith("val/")}


def val_rows(run_dir) -> list[dict[str, str]]:
    """The metrics.csv rows that hold validation metrics, in order."""
    with open(run_dir / "metrics.csv") as f:
        return [
            {k: v for k, v in row.items() if k.startswith("val/") or k in ("epoch", "step")}
            for row in csv.DictReader(f)
            if row["val/l1"]
        ]


@pytest.mark.parametrize(
    "model, signum, batch_idx",
    [
        pytest.param(["model=cnn"], signal.SIGTERM, 2, id="cnn-SIGTERM"),
        # in the epoch's last batch: that epoch's validation still runs before the stop
        pytest.param(["model=cnn"], signal.SIGTERM, 3, id="cnn-SIGTERM-last-batch"),
        # the gan: two optimisers stepped by hand
        pytest.param(["model=gan", "model.ndf=8"], signal.SIGINT, 2, id="gan-SIGINT", marks=pytest.mark.slow),
        # classify: its colour prior is counted before the first step, and a resumed run takes it from the checkpoint
        pytest.param(["model=classify"], signal.SIGTERM, 2, id="classify-SIGTERM"),
        # colour hints are drawn from (data seed, step, rank): a resumed run draws what it would have drawn
        pytest.param(["model=cnn", "model.hints=both"], signal.SIGTERM, 2, id="cnn-hints-SIGTERM"),
    ],
)
def test_signal_mid_epoch_saves_and_resume_matches_an_uninterrupted_run(tmp_path, monkeypatch, model, signum, batch_idx):
    whole_draws = RandomDraws()
    add_callback(monkeypatch, whole_draws)
    whole = train(tiny_config(tmp_path, *RUN, *model, "name=whole"))
    assert whole.interrupt.signal is None
    steps_per_batch = whole.trainer.global_step // 8  # 2 epochs of 4 batches; the gan steps D and G

    first_draws, resumed_draws = RandomDraws(), RandomDraws()
    monkeypatch.undo()
    add_callback(monkeypatch, first_draws)
    add_callback(monkeypatch, SignalAt(batch_idx=batch_idx, signum=signum))  # after batch_idx + 1 of the 4 batches
    stopped = train(tiny_config(tmp_path, *RUN, *model, "name=stopped"))
    assert stopped.interrupt.signal == signum and stopped.interrupt.saved
    last = stopped.run.dir / "checkpoints" / "last.ckpt"
    assert torch.load(last, weights_only=True)["global_step"] == (batch_idx + 1) * steps_per_batch

    monkeypatch.undo()
    add_callback(monkeypatch, resumed_draws)
    resumed = train(config_for([f"resume={last}"]))  # the saved config holds the rest
    assert resumed.run.dir == stopped.run.dir and resumed.trainer.global_step == whole.trainer.global_step

    # Same batches, same losses at every step, same weights and metrics at the end.
    assert len(train_losses(whole.run.dir)) == 8
    assert train_losses(stopped.run.dir) == train_losses(whole.run.dir)
    for (name, a), b in zip(whole.module.state_dict().items(), resumed.module.state_dict().values()):
        assert torch.equal(a, b), name
    assert val_metrics(resumed) == val_metrics(whole)
    assert val_rows(stopped.run.dir) == val_rows(whole.run.dir)  # one row per epoch, none lost or repeated
    # The model's own random draws continue where they stopped.
    assert {**first_draws.draws, **resumed_draws.draws} == whole_draws.draws


def test_main_says_how_to_resume_after_a_signal(tmp_path, monkeypatch, capsys):
    before = signal.getsignal(signal.SIGINT)  # Python's default, or ignored where the shell started us in the background
    add_callback(monkeypatch, SignalAt(batch_idx=0, signum=signal.SIGINT))
    assert main([*TINY, *RUN, f"runs_dir={tmp_path / 'runs'}", "name=r"]) == 128 + signal.SIGINT
    last = tmp_path / "runs" / "r" / "checkpoints" / "last.ckpt"
    err = capsys.readouterr().err
    assert "Stopped by SIGINT at global step 1" in err and f"resume={last}" in err
    assert signal.getsignal(signal.SIGINT) is before  # handlers are given back


# ---------------------------------------------------------------- nan / inf


def test_nan_loss_stops_at_its_step_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch, capsys):
    steps = itertools.count()
    loss_of = regression.reconstruction_loss
    broken = lambda name: lambda a, b: loss_of(name)(a, b) * (math.nan if next(steps) == 5 else 1.0)  # noqa: E731
    monkeypatch.setattr(regression, "reconstruction_loss", broken)
    assert main([*TINY, *RUN, f"runs_dir={tmp_path / 'runs'}", "name=nan"]) == 2
    last = tmp_path / "runs" / "nan" / "checkpoints" / "last.ckpt"
    err = capsys.readouterr().err
    assert "Training stopped at global step 5 (epoch 1): train/loss is nan" in err
    assert f"The last good checkpoint is kept: {last}" in err and "Traceback" not in err
    checkpoint = torch.load(last, weights_only=True)
    assert checkpoint["global_step"] == 4  # saved at the end of epoch 0, not overwritten since
    assert all(torch.isfinite(w).all() for w in checkpoint["state_dict"].values())


def test_a_checkpoint_with_non_finite_weights_is_never_written(tmp_path):
    result = train(tiny_config(tmp_path, *RUN, "trainer.max_epochs=1", "logger=none"))
    last = result.run.dir / "checkpoints" / "last.ckpt"
    before = last.read_bytes()
    with torch.no_grad():
        next(result.module.parameters())[0] = math.inf
    with pytest.raises(TrainingDiverged, match="Not saving a checkpoint at global step 4: the weights are nan or inf"):
        result.trainer.save_checkpoint(last)
    assert last.read_bytes() == before


# ---------------------------------------------------------------- disk full


def test_a_full_disk_while_checkpointing_is_a_clear_error_and_keeps_the_last_checkpoint(tmp_path, monkeypatch, capsys):
    save, calls = torch.save, itertools.count()

    def disk_fills_in_epoch_1(obj, f):
        if next(calls) < 2:  # epoch 0 writes best-*.ckpt and last.ckpt
            return save(obj, f)
        f.write(b"half a checkpoint")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(colorize.training.checkpoint_io.torch, "save", disk_fills_in_epoch_1)
    assert main([*TINY, *RUN, f"runs_dir={tmp_path / 'runs'}", "name=full"]) == 2
    err = capsys.readouterr().err
    assert "error: No space left on the device (or over quota) while writing" in err and "Traceback" not in err
    checkpoints = tmp_path / "runs" / "full" / "checkpoints"
    assert not [p for p in checkpoints.iterdir() if p.suffix != ".ckpt"]  # no temporary file left behind
    assert torch.load(checkpoints / "last.ckpt", weights_only=True)["global_step"] == 4


def test_a_full_disk_while_appending_metrics_cuts_back_to_the_last_whole_row(tmp_path, monkeypatch):
    logger = colorize.training.csv_logger.RunCSVLogger(tmp_path)
    logger.log_metrics({"train/loss": 0.5}, step=0)
    logger.save()
    before = (tmp_path / "metrics.csv").read_text()

    class FullFile:
        def __init__(self, f):
            self.f = f

        def write(self, data):
            self.f.write(data[:3])
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

    def opens_full(path, mode="r", **kwargs):
        return FullFile(open(path, mode, **kwargs)) if mode == "a" else open(path, mode, **kwargs)

    monkeypatch.setattr(colorize.training.csv_logger, "open", opens_full, raising=False)  # only the logger's appends
    logger.log_metrics({"train/loss": 0.25}, step=1)
    with pytest.raises(DiskFullError, match="metrics.csv"):
        logger.save()
    monkeypatch.undo()
    assert (tmp_path / "metrics.csv").read_text() == before


# ---------------------------------------------------------------- W&B


def test_wandb_that_cannot_start_leaves_training_on_local_logs_and_says_so_once(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("WANDB_MODE", "online")  # online, but no API key: wandb.init refuses
    result = train(tiny_config(tmp_path, *RUN, "trainer.max_epochs=1", "logger=wandb"))
    assert result.trainer.global_step == 4
    assert [type(lg).__name__ for lg in result.trainer.loggers] == ["RunCSVLogger"]
    assert train_losses(result.run.dir)
    said = [r.getMessage() for r in caplog.records if "W&B could not start" in r.getMessage()]
    assert len(said) == 1 and "UsageError" in said[0] and str(result.run.dir / "metrics.csv") in said[0]


@pytest.mark.slow
def test_unreachable_wandb_server_is_given_up_after_init_timeout(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("WANDB_API_KEY", "k" * 40)
    monkeypatch.setenv("WANDB_BASE_URL", "http://127.0.0.1:9")  # the discard port: nothing listens
    result = train(tiny_config(tmp_path, *RUN, "trainer.max_epochs=1", "logger=wandb", "logger.init_timeout=3"))
    assert result.trainer.global_step == 4 and len(result.trainer.loggers) == 1
    assert any("W&B could not start" in r.getMessage() for r in caplog.records)


def test_no_api_key_is_written_into_anything_the_run_makes(tmp_path, monkeypatch):
    key = "f00dfeedcafe" * 3 + "beef"
    monkeypatch.setenv("WANDB_API_KEY", key)
    result = train(tiny_config(tmp_path, *RUN, "trainer.max_epochs=1", "logger=wandb", "logger.mode=offline"))
    wandb_logger = result.trainer.loggers[1]
    assert key not in str(dict(wandb_logger.experiment.config))
    written = [p for root in (tmp_path, Path(os.environ["WANDB_CONFIG_DIR"]).parent) for p in root.rglob("*") if p.is_file()]
    assert any(p.name == "config.yaml" for p in written) and any(p.suffix == ".wandb" for p in written)
    assert [p for p in written if key.encode() in p.read_bytes()] == []


DRIVER = """
import pathlib, sys, time
import lightning as L
import colorize.train as t
import colorize.training.fit as fit

class WaitForSignal(L.Callback):
    def on_train_batch_end(self, trainer, *args):
        if trainer.global_step == 3:
            pathlib.Path(sys.argv[1]).touch()
            deadline = time.monotonic() + 60
            while not trainer.received_sigterm and time.monotonic() < deadline:
                time.sleep(0.05)

build = fit.build_trainer
def build_with(cfg, run, module):
    trainer, checkpoint, interrupt = build(cfg, run, module)
    trainer.callbacks.insert(0, WaitForSignal())
    return trainer, checkpoint, interrupt
fit.build_trainer = build_with
sys.exit(t.main(sys.argv[2:]))
"""


@pytest.mark.slow
def test_ctrl_c_to_the_process_group_with_data_workers_saves_and_resumes_exactly(tmp_path):
    """A real Ctrl+C: SIGINT to the whole process group (the CLI and its DataLoader workers)."""
    argv = [*TINY, *RUN, f"runs_dir={tmp_path / 'runs'}", "data.num_workers=2"]
    marker = tmp_path / "at-step-3"
    proc = subprocess.Popen(
        [sys.executable, "-c", DRIVER, str(marker), *argv, "name=cli"], start_new_session=True, stderr=subprocess.PIPE, text=True
    )
    while not marker.exists() and proc.poll() is None:
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    last = tmp_path / "runs" / "cli" / "checkpoints" / "last.ckpt"
    assert proc.returncode == 128 + signal.SIGINT, err
    assert f"Stopped by SIGINT at global step 3; saved {last}" in err and "Traceback" not in err

    resumed = train(config_for([f"resume={last}"]))
    whole = train(config_for([*argv, "name=whole"]))
    assert resumed.trainer.global_step == whole.trainer.global_step == 8
    assert train_losses(resumed.run.dir) == train_losses(whole.run.dir)
    assert val_metrics(resumed) == val_metrics(whole)


def train_process(argv: list[str], tmp_path: Path) -> subprocess.CompletedProcess:
    """``python -m colorize.train`` as a user runs it, which must exit: each test that uses it hung forever before its
    fix, so a time-out fails it."""
    return subprocess.run(
        [sys.executable, "-m", "colorize.train", *argv, f"runs_dir={tmp_path / 'runs'}"],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_a_validation_split_of_unreadable_files_with_loader_workers_exits_with_a_clear_error(tmp_path):
    """The error is raised in a loader worker during the sanity check, before Lightning has a batch of that loader: the
    workers must still be shut down, or the process never exits."""
    photos, val = tmp_path / "photos", tmp_path / "val"
    photos.mkdir()
    val.mkdir()
    for i in range(8):
        Image.fromarray(random_photo(48, 64, seed=i)).save(photos / f"{i}.jpg")
    (val / "broken.jpg").write_bytes(b"not a photo")
    argv = [*TINY, "data=folder", f"data.root={photos}", f"data.val_root={val}", "data.num_workers=1", "logger=none"]
    run = train_process(argv, tmp_path)
    assert run.returncode == 2, run.stderr[-2000:]
    assert "error: the validation split (1 file, chosen by data.val_root) has no readable photo" in run.stderr
    assert f"{val / 'broken.jpg'}: cannot read as an image" in run.stderr and "Traceback" not in run.stderr


@pytest.mark.slow
def test_classify_with_loader_workers_exits_when_training_ends(tmp_path):
    """classify counts its colour prior over a training loader of its own, whose persistent workers Lightning never
    sees: they must be shut down when fit ends, or the process waits for them forever after its last line."""
    argv = [*TINY, "model=classify", "data.num_workers=1", "trainer.max_epochs=1", "logger=none"]
    run = train_process(argv, tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "best checkpoint" in run.stdout + run.stderr
