"""End to end: what a long run does when it is interrupted, diverges, or meets a broken environment."""

import csv
import os
import signal

import lightning as L
import pytest
import torch

import colorize.train
from colorize.train import config_for, main, train
from conftest import TINY, tiny_config

RUN = [
    "trainer.max_epochs=2",
    "data.train_crops_per_image=4",  # 28 crops: 7 batches, of which 4 per epoch
    "trainer.limit_train_batches=4",
    "trainer.limit_val_batches=1",
    "trainer.log_every_n_steps=1",
    "trainer.num_sanity_val_steps=0",
    "logger=csv",
]


def add_callback(monkeypatch, callback: L.Callback) -> None:
    """Make train() add ``callback`` to its trainer (a test's way in, since train() builds its own)."""
    build = colorize.train.build_trainer

    def build_with(cfg, run, module):
        trainer, checkpoint, interrupt = build(cfg, run, module)
        trainer.callbacks.insert(0, callback)
        return trainer, checkpoint, interrupt

    monkeypatch.setattr(colorize.train, "build_trainer", build_with)


class SignalAt(L.Callback):
    """Sends this process ``signum`` at the end of global step ``step`` (the step's batch still finishes)."""

    def __init__(self, step: int, signum: int = signal.SIGTERM) -> None:
        self.step, self.signum = step, signum

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if trainer.global_step == self.step:
            os.kill(os.getpid(), self.signum)


class RandomDraws(L.Callback):
    """Draws from the global torch generator each step, as dropout would, and records what it drew."""

    def __init__(self) -> None:
        self.draws: dict[int, float] = {}

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self.draws[trainer.global_step] = float(torch.rand(()))


def train_losses(run_dir) -> dict[int, str]:
    with open(run_dir / "metrics.csv") as f:
        return {int(r["step"]): r["train/loss"] for r in csv.DictReader(f) if r.get("train/loss")}


def val_metrics(result) -> dict[str, float]:
    return {k: float(v) for k, v in result.trainer.callback_metrics.items() if k.startswith("val/")}


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_mid_epoch_saves_and_resume_matches_an_uninterrupted_run(tmp_path, monkeypatch, signum):
    whole_draws = RandomDraws()
    add_callback(monkeypatch, whole_draws)
    whole = train(tiny_config(tmp_path, *RUN, "name=whole"))
    assert whole.trainer.global_step == 8 and whole.interrupt.signal is None

    first_draws, resumed_draws = RandomDraws(), RandomDraws()
    monkeypatch.undo()
    add_callback(monkeypatch, first_draws)
    add_callback(monkeypatch, SignalAt(step=3, signum=signum))  # mid-epoch: 4 batches per epoch
    stopped = train(tiny_config(tmp_path, *RUN, "name=stopped"))
    assert stopped.interrupt.signal == signum and stopped.interrupt.saved
    last = stopped.run.dir / "checkpoints" / "last.ckpt"
    assert torch.load(last, weights_only=True)["global_step"] == 3

    monkeypatch.undo()
    add_callback(monkeypatch, resumed_draws)
    resumed = train(config_for([f"resume={last}"]))  # the saved config holds the rest
    assert resumed.run.dir == stopped.run.dir and resumed.trainer.global_step == 8

    # Same batches, same losses at every step, same weights and metrics at the end.
    assert train_losses(stopped.run.dir) == train_losses(whole.run.dir)
    for (name, a), b in zip(whole.module.state_dict().items(), resumed.module.state_dict().values()):
        assert torch.equal(a, b), name
    assert val_metrics(resumed) == val_metrics(whole)
    # The model's own random draws continue where they stopped.
    assert {**first_draws.draws, **resumed_draws.draws} == whole_draws.draws


def test_main_says_how_to_resume_after_a_signal(tmp_path, monkeypatch, capsys):
    add_callback(monkeypatch, SignalAt(step=1, signum=signal.SIGINT))
    assert main([*TINY, *RUN, f"runs_dir={tmp_path / 'runs'}", "name=r"]) == 128 + signal.SIGINT
    last = tmp_path / "runs" / "r" / "checkpoints" / "last.ckpt"
    err = capsys.readouterr().err
    assert "Stopped by SIGINT at global step 1" in err and f"resume={last}" in err
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handlers are given back
