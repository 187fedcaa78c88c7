"""The sweep: its plan, the GPU scheduler, a real 2x2 matrix with a failing cell, and the W&B sweep file."""

import itertools
import sys

import pytest
import yaml

import colorize.training.sweeps
from colorize.config import ConfigError, available_choices, config_dir, load_config
from colorize.sweep import main
from colorize.training.sweeps import SweepCell, SweepRun, plan, run_sweep, summary
from conftest import SWEPT


def test_plan_names_every_cell_and_checks_configs_first(tmp_path):
    jobs = plan(["cnn"], ["lab", "luv"], [0, 1], [*SWEPT, f"runs_dir={tmp_path}"], "s1", load_config)
    assert [j.cell.name for j in jobs] == ["cnn-lab-seed0", "cnn-lab-seed1", "cnn-luv-seed0", "cnn-luv-seed1"]
    command = jobs[3].command
    assert command[:3] == [sys.executable, "-m", "colorize.train"]
    assert {"model=cnn", "space=luv", "seed=1", f"runs_dir={tmp_path / 's1'}", "name=cnn-luv-seed1"} <= set(command)
    assert jobs[3].run_dir == tmp_path / "s1" / "cnn-luv-seed1" and jobs[3].log.parent == tmp_path / "s1" / "logs"
    # Each command is a valid config on its own.
    cfg = load_config(command[3:])
    assert cfg.space.name == "luv" and cfg.seed == 1 and list(cfg.logger.tags) == ["s1"]

    with pytest.raises(ConfigError, match="lrr"):
        plan(["cnn"], ["lab"], [0], ["model.lrr=1"], "s2", load_config)
    with pytest.raises(ConfigError, match="sets name"):
        plan(["cnn"], ["lab"], [0], ["name=mine"], "s3", load_config)


def fake_job(tmp_path, name: str, code: str) -> SweepRun:
    command = [sys.executable, "-c", f"import os, sys; print('gpu', os.environ.get('CUDA_VISIBLE_DEVICES')); {code}"]
    return SweepRun(SweepCell("m", name, 0), command, tmp_path / name, tmp_path / "logs" / f"{name}.log")


def test_scheduler_gives_each_run_one_gpu_and_survives_a_failure(tmp_path):
    jobs = [fake_job(tmp_path, f"ok{i}", "pass") for i in range(3)]
    jobs.insert(1, fake_job(tmp_path, "bad", "sys.exit('boom')"))
    outcomes = run_sweep(jobs, gpus=["3", "5"])
    assert len(outcomes) == 4
    assert [o.ok for o in outcomes] == [True, False, True, True]
    for o in outcomes:
        assert o.gpu in ("3", "5") and f"gpu {o.gpu}" in o.run.log.read_text()
    report = summary(outcomes)
    assert "3 of 4 run(s) finished" in report and "FAILED m-bad-seed0" in report and "boom" in report
    assert str(jobs[1].log) in report
    # A second sweep with the same names keeps the first logs.
    run_sweep([fake_job(tmp_path, "ok0", "pass")])
    assert (tmp_path / "logs" / "ok0.log").is_file() and (tmp_path / "logs" / "ok0.2.log").is_file()


@pytest.mark.slow
def test_two_by_two_matrix_reports_a_failing_cell_and_runs_the_rest(tmp_path, capsys):
    runs = tmp_path / "runs"
    taken = runs / "grid" / "cnn-luv-seed0"
    taken.mkdir(parents=True)  # this cell's run directory exists already, so its training refuses to start
    argv = ["--models", "cnn", "--spaces", "lab", "luv", "--seeds", "0", "1", "--name", "grid", "--gpus", "none", "--"]
    argv += [*SWEPT, f"runs_dir={runs}", "trainer.fast_dev_run=true", "logger=none"]
    assert main(argv) == 1
    out = capsys.readouterr().out
    assert "3 of 4 run(s) finished" in out and "FAILED cnn-luv-seed0 (exit 2)" in out and "already exists" in out
    assert str(runs / "grid" / "logs" / "cnn-luv-seed0.log") in out
    for cell in ("cnn-lab-seed0", "cnn-lab-seed1", "cnn-luv-seed1"):
        assert (runs / "grid" / cell / "config.yaml").is_file()
        assert "run directory" in (runs / "grid" / "logs" / f"{cell}.log").read_text()
    assert list(taken.iterdir()) == []  # the existing directory is left alone


def test_wandb_sweep_file_has_the_grid_and_valid_commands():
    sweep = yaml.safe_load((config_dir() / "sweep" / "grid.yaml").read_text())
    assert sweep["method"] == "grid" and sweep["command"][-1] == "${args_no_hyphens}"
    values = {name: p["values"] for name, p in sweep["parameters"].items()}
    assert set(values) == {"model", "space", "seed"}
    assert set(available_choices("model")) <= set(values["model"]) and set(values["space"]) == set(available_choices("space"))
    for model, space, seed in itertools.product(values["model"], values["space"], values["seed"]):
        if model in available_choices("model"):  # models on other branches are checked once they are merged
            cfg = load_config([f"model={model}", f"space={space}", f"seed={seed}"])
            assert (cfg.model.name, cfg.space.name, cfg.seed) == (model, space, seed)


@pytest.mark.parametrize(
    "options, overrides, message",
    [
        (["--models", "transformer"], [], "Unknown model 'transformer'"),
        (["--spaces", "hsv"], [], "Unknown space 'hsv'"),
        ([], ["data.batch_size=many"], "data.batch_size"),
        ([], ["data.btach_size=8"], "btach_size"),
    ],
)
def test_bad_config_is_refused_before_any_run_starts(tmp_path, capsys, options, overrides, message):
    assert main([*options, "--", *overrides, f"runs_dir={tmp_path}"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("config error:") and message in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


def test_ctrl_c_says_how_to_continue_the_interrupted_runs(tmp_path, monkeypatch, capsys):
    def interrupted(runs, gpus=None):
        raise KeyboardInterrupt

    monkeypatch.setattr(colorize.training.sweeps, "run_sweep", interrupted)
    assert (
        main(["--models", "cnn", "--spaces", "lab", "--seeds", "0", "--gpus", "none", "--", *SWEPT, f"runs_dir={tmp_path}"])
        == 130
    )
    err = capsys.readouterr().err
    assert "interrupted" in err and "resume=<run dir>/checkpoints/last.ckpt" in err and "Traceback" not in err


def test_a_sweep_run_again_skips_finished_runs_continues_stopped_ones_and_refuses_other_settings(tmp_path):
    from omegaconf import OmegaConf

    from colorize.runs import Run
    from colorize.training.sweeps import continuing

    runs = plan(["cnn"], ["lab", "luv"], [0], [*SWEPT, f"runs_dir={tmp_path}"], "again", load_config)
    assert continuing(runs, load_config) == (runs, [])  # nothing ran yet
    for run in runs:  # as training leaves a run directory: its config, and a last checkpoint after a validation
        run.run_dir.mkdir(parents=True)
        OmegaConf.save(load_config(run.command[3:]), run.run_dir / "config.yaml")
        (run.run_dir / "checkpoints").mkdir()
        Run(run.run_dir).last_checkpoint.write_bytes(b"")
    Run(runs[0].run_dir).mark_finished(10)
    pending, finished = continuing(runs, load_config)
    assert finished == [runs[0]] and [p.run_dir for p in pending] == [runs[1].run_dir]
    assert pending[0].command == [*runs[1].command[:3], f"resume={Run(runs[1].run_dir).last_checkpoint}"]

    changed = runs[1].run_dir / "config.yaml"
    changed.write_text(changed.read_text().replace("batch_size: 4", "batch_size: 8"))
    with pytest.raises(ConfigError, match=r"cnn-luv-seed0 was trained with other settings: data.batch_size 8 \(now 4\)"):
        continuing(runs, load_config)
    (runs[1].run_dir / "config.yaml").unlink()
    with pytest.raises(ConfigError, match="exists but is not a run directory"):
        continuing(runs, load_config)
