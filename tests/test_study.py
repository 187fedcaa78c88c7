"""The study command: a sweep, each run's best checkpoint evaluated on its held-out photos, and the comparison."""

import json

import pytest

from colorize.study import main
from conftest import SWEPT


def test_a_dry_run_lists_every_run_and_trains_nothing(tmp_path, capsys):
    argv = ["--models", "cnn", "--spaces", "lab", "oklab", "--seeds", "0", "1", "--dry-run", "--", f"runs_dir={tmp_path}"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "study " + str(tmp_path / "study-cpu-cnn") + ": 4 run(s), 0 finished before, 4 to train" in out
    assert out.count("-m colorize.train model=cnn") == 4 and "trainer.max_epochs=12" in out  # the cpu preset's
    assert not (tmp_path / "study-cpu-cnn").exists()


def test_an_unknown_preset_is_a_clear_error(tmp_path, capsys):
    assert main(["--preset", "gpuu", "--dry-run", "--", f"runs_dir={tmp_path}"]) == 2
    assert "Unknown study preset 'gpuu'" in capsys.readouterr().err


@pytest.mark.parametrize("listed", [["--spaces", "lab"], ["--seeds", "0"], ["--models", "cnn"]])
def test_an_override_after_a_list_option_says_to_put_it_after_the_dashes(listed, tmp_path, capsys):
    # --spaces takes one or more words: without "--", the override would be read as a space (or a seed, or a model).
    with pytest.raises(SystemExit) as exit:
        main([*listed, "model.hints=local", "--dry-run", "--", f"runs_dir={tmp_path}"])
    assert exit.value.code == 2
    err = capsys.readouterr().err
    assert f"'model.hints=local' is a config override, not a {listed[0][2:-1]}: put overrides after --" in err
    assert not (tmp_path / "study-cpu-cnn").exists()


@pytest.mark.slow
def test_a_study_trains_evaluates_compares_and_run_again_goes_on_where_it_stopped(tmp_path, capsys):
    argv = ["--models", "cnn", "--spaces", "lab", "luv", "--seeds", "0", "1", "--gpus", "none", "--"]
    argv += [*SWEPT, f"runs_dir={tmp_path}", "trainer.max_epochs=1", "trainer.limit_train_batches=2", "logger=csv"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    study = tmp_path / "study-cpu-cnn"
    assert "4 run(s), 0 finished before, 4 to train" in out and "evaluations: 4 written, 0 reused" in out
    assert f"report: {study / 'report' / 'report.md'}" in out
    verdict = json.loads((study / "report" / "verdict.json").read_text())
    # The verdict stands on each run's evaluation of its best checkpoint on the photo the sample source holds out.
    assert verdict["source"] == "evaluation" and verdict["photo_scores"]["ids"] == ["chelsea"]
    assert {row["group"] for row in verdict["comparisons"]} == {"spaces of cnn"}
    assert all(row["seeds"] == 2 and row["photos"] == 1 for row in verdict["comparisons"])
    for run in ("cnn-lab-seed0", "cnn-luv-seed1"):
        report = json.loads(next((study / run / "evaluation").glob("*/metrics.json")).read_text())
        assert report["protocol"]["eval_size"] == 256 and "held_out" in report["test_set"]

    # Again: nothing is trained or evaluated twice, and the report is written anew.
    (study / "report" / "report.md").unlink()
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "4 finished before, 0 to train" in out and "evaluations: 0 written, 4 reused" in out
    assert (study / "report" / "report.md").is_file()
