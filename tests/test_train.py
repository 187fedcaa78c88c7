"""End to end: fast_dev_run per model and space, the run directory, W&B offline, resume."""

import csv

import lightning as L
import pytest
import torch

from colorize.config import load_config, to_yaml
from colorize.runs import Run
from colorize.train import config_for, main
from colorize.training.fit import train
from conftest import FAMILY_SPACE_PAIRS, TINY, add_callback, tiny_config


def read_metrics(run_dir):
    with open(run_dir / "metrics.csv") as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize(("model", "space"), FAMILY_SPACE_PAIRS)
def test_fast_dev_run(tmp_path, model, space):
    cfg = tiny_config(tmp_path, f"model={model}", f"space={space}", "trainer.fast_dev_run=true", "logger=none")
    result = train(cfg)
    assert result.trainer.fit_loop.epoch_loop.batch_progress.total.completed == 1  # one batch (a GAN steps twice on it)
    assert result.trainer.global_step >= 1
    assert result.module.space.name == space
    assert (result.run.dir / "config.yaml").read_text().count(f"name: {space}") == 1


def short_run(tmp_path, *args):
    return tiny_config(
        tmp_path,
        "trainer.max_epochs=2",
        "trainer.limit_train_batches=2",
        "trainer.limit_val_batches=1",
        "trainer.log_every_n_steps=1",
        "trainer.num_sanity_val_steps=0",
        *args,
    )


def test_run_directory_holds_config_checkpoints_metrics_grids_and_wandb(tmp_path):
    result = train(short_run(tmp_path, "name=r1"))
    run = result.run.dir
    assert run == tmp_path / "runs" / "r1"
    saved = (run / "config.yaml").read_text()
    assert "batch_size: 4" in saved and "init: random" in saved
    assert (run / "checkpoints" / "last.ckpt").is_file()
    assert list((run / "checkpoints").glob("best-*.ckpt"))
    rows = read_metrics(run)
    assert any(r.get("val/delta_e") for r in rows) and any(r.get("train/loss") for r in rows)
    assert len(list((run / "samples").glob("*.png"))) == 2
    offline = list((run / "wandb").glob("offline-run-*"))
    assert len(offline) == 1 and list(offline[0].glob("*.wandb"))


def test_wandb_config_group_and_tags(tmp_path):
    result = train(short_run(tmp_path, "space=luv", "trainer.max_epochs=1"))
    wandb_logger = [lg for lg in result.trainer.loggers if type(lg).__name__ == "WandbLogger"][0]
    run = wandb_logger.experiment
    assert run.group == "cnn-luv"
    assert {"cnn", "luv"} <= set(run.tags)
    assert run.config["space"]["name"] == "luv" and run.config["data"]["batch_size"] == 4


def test_csv_and_none_loggers(tmp_path):
    csv_run = train(short_run(tmp_path, "logger=csv", "trainer.max_epochs=1")).run.dir
    assert (csv_run / "metrics.csv").is_file() and not (csv_run / "wandb").exists()
    none_run = train(short_run(tmp_path, "logger=none", "trainer.max_epochs=1")).run.dir
    assert not (none_run / "metrics.csv").exists() and (none_run / "checkpoints" / "last.ckpt").is_file()


def test_resume_continues_at_the_right_step_and_keeps_history(tmp_path):
    first = train(short_run(tmp_path, "name=resumable", "logger=csv"))
    assert first.trainer.global_step == 4
    last = first.run.dir / "checkpoints" / "last.ckpt"
    assert torch.load(last, weights_only=False)["global_step"] == 4

    cfg = config_for([*TINY, f"runs_dir={tmp_path / 'runs'}", f"resume={last}", "trainer.max_epochs=3"])
    assert cfg.trainer.limit_train_batches == 2  # from the saved config
    second = train(cfg)
    assert second.run.dir == first.run.dir
    assert second.trainer.global_step == 6 and second.trainer.current_epoch == 3
    steps = [int(r["step"]) for r in read_metrics(first.run.dir) if r.get("train/loss")]
    assert steps[0] == 0 and max(steps) == 5  # the first run's rows are kept, the resumed ones appended
    assert list(first.run.dir.glob("config.resume-*.yaml"))


class LastCheckpointSteps(L.Callback):
    """At the start of each epoch after the first, the global step and the one that last.ckpt holds."""

    def __init__(self) -> None:
        self.seen: list[tuple[int, int]] = []

    def on_train_epoch_start(self, trainer, pl_module):
        if trainer.current_epoch > 0:
            last = torch.load(trainer.checkpoint_callback.last_model_path, weights_only=False)
            self.seen.append((trainer.global_step, last["global_step"]))


def test_last_checkpoint_holds_the_newest_state_after_every_validation_and_at_the_end(tmp_path, monkeypatch):
    """Even when the best checkpoint stays at epoch 0 (monitor=epoch: the first is best), and when max_steps stops
    training between two validations."""
    seen = LastCheckpointSteps()
    add_callback(monkeypatch, seen)
    result = train(short_run(tmp_path, "name=newest", "trainer.max_epochs=3", "monitor=epoch", "logger=none"))
    checkpoints = result.run.dir / "checkpoints"
    (best,) = checkpoints.glob("best-*.ckpt")
    assert torch.load(best, weights_only=False)["global_step"] == 2  # the end of epoch 0
    assert seen.seen == [(2, 2), (4, 4)]
    assert torch.load(checkpoints / "last.ckpt", weights_only=False)["global_step"] == result.trainer.global_step == 6

    stopped = train(short_run(tmp_path, "name=stopped", "trainer.max_epochs=3", "trainer.max_steps=3", "logger=none"))
    assert torch.load(stopped.run.last_checkpoint, weights_only=False)["global_step"] == stopped.trainer.global_step == 3


def test_monitor_last_makes_the_newest_validated_state_the_best_checkpoint(tmp_path):
    """monitor=last (a GAN's choice): the best checkpoint, Run.best_step and the run's final metrics are the newest."""
    result = train(short_run(tmp_path, "name=newest", "trainer.max_epochs=3", "monitor=last", "logger=csv"))
    (best,) = (result.run.dir / "checkpoints").glob("best-*.ckpt")
    assert torch.load(best, weights_only=False)["global_step"] == result.trainer.global_step == 6
    record = Run(result.run.dir)
    assert record.best_checkpoint == best and record.best_step() == 5  # metrics.csv counts steps from 0
    newest = [row for row in read_metrics(result.run.dir) if row["val/delta_e"]][-1]
    assert int(newest["step"]) == 5 and record.final_metrics()["val/delta_e"] == float(newest["val/delta_e"])


def test_resume_takes_overrides_of_the_saved_runs_own_model(tmp_path):
    """A gan run resumed with a gan-only key: the key is checked against the saved model, not the default cnn."""
    run_dir = tmp_path / "runs" / "a-gan"
    (run_dir / "checkpoints").mkdir(parents=True)
    (run_dir / "config.yaml").write_text(to_yaml(load_config(["model=gan", "model.g_lr=0.001"])))
    cfg = config_for([f"resume={run_dir / 'checkpoints' / 'last.ckpt'}", "model.d_lr=0.003"])
    assert cfg.model.name == "gan" and cfg.model.g_lr == 0.001 and cfg.model.d_lr == 0.003


def test_existing_run_name_is_never_overwritten(tmp_path, capsys):
    train(short_run(tmp_path, "name=taken", "trainer.max_epochs=1", "logger=none"))
    argv = [*TINY, f"runs_dir={tmp_path / 'runs'}", "name=taken", "trainer.fast_dev_run=true"]
    assert main(argv) == 2
    assert "already exists" in capsys.readouterr().err


def test_main_reports_bad_data_without_traceback(tmp_path, capsys):
    assert main([*TINY, "data=folder", f"data.root={tmp_path / 'missing'}", f"runs_dir={tmp_path}"]) == 2
    err = capsys.readouterr().err
    assert "is not a folder" in err and "Traceback" not in err


def test_a_run_prints_what_a_user_acts_on_and_no_library_noise(tmp_path, capfd):
    """No wandb warning about a setting colorize never set, no 20-line W&B history and summary, no Lightning
    deprecation of its own torch calls: the run directory, where W&B logs offline and how to sync it, the best checkpoint."""
    args = [*TINY, f"runs_dir={tmp_path}", "name=quiet", "trainer.max_epochs=1", "trainer.limit_train_batches=2"]
    assert main([*args, "logger.mode=offline"]) == 0
    out, err = capfd.readouterr()
    printed = out + err
    for noise in ("anonymous setting", "Run history", "Run summary", "LeafSpec"):
        assert noise not in printed
    assert f"run directory: {tmp_path / 'quiet'}" in out and "best checkpoint" in out
