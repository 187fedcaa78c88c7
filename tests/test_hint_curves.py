"""Measuring hints: the hint curve of evaluate, the curves of compare, and the row of pictures with 0, 1, 5 and 20 hints."""

import csv
import json

import pytest
import torch
from omegaconf import OmegaConf
from PIL import Image
from torch import nn

import colorize.reports.comparison
from colorize.checkpoints import marker
from colorize.compare import main as compare_main
from colorize.config import load_config
from colorize.evaluate import main as evaluate_main
from colorize.models import FAMILIES
from colorize.networks.colorizer import Colorizer, ColorizerSpec, build_colorizer
from colorize.networks.hint_options import EVAL_HINT_COUNTS, EVAL_PATCH
from colorize.networks.hints import HintEncoder, HintPoints
from colorize.networks.widening import widen_first_conv
from colorize.reports.hint_curves import (
    colorize_with_hints,
    curve_from_scores,
    hint_rows,
    outline_patches,
)
from colorize.reports.scoring import score_rows
from colorize.reports.tables import group_cells
from colorize.runs import find_runs
from conftest import SPACE_NAMES, TINY, random_photo

PHOTOS = [random_photo(40, 56, seed=i) for i in range(3)]


def copying_colorizer(space: str = "lab") -> Colorizer:
    """Predicts the hint where the mask is set and zero chroma elsewhere: one widened 1x1 conv, set by hand."""
    body = nn.Conv2d(1, 2, 1)
    encoder = HintEncoder("local")
    widen_first_conv(body, encoder.extra_channels)
    with torch.no_grad():
        body.weight.zero_()
        body.bias.zero_()
        body.weight[:, 1:3, 0, 0] = torch.eye(2)  # the channels of hint x mask
    return Colorizer(body, nn.Identity(), ColorizerSpec(space, "cnn", "chroma", {"hints": "local"}), encoder).eval()


def curve_of(colorizer: Colorizer, size: int = 32) -> dict:
    images = (torch.from_numpy(photo.copy()).permute(2, 0, 1) for photo in PHOTOS)
    scores = score_rows(images, {}, 0, torch.device("cpu"), colour_rows=hint_rows(colorizer, size))
    return curve_from_scores(scores.rows)


def model_options(hints: str) -> dict:
    return OmegaConf.to_container(load_config([*TINY, f"model.hints={hints}"]).model)


def write_checkpoint(path, hints: str = "local", space: str = "lab") -> None:
    """A checkpoint as training writes one, of a tiny cnn with random weights (what load_colorizer reads)."""
    options = model_options(hints)
    net = build_colorizer(FAMILIES["cnn"].spec(options, space)).net
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(
        {
            "colorize": marker(),
            "hyper_parameters": {"model": options, "space": space},
            "state_dict": {f"net.{k}": v for k, v in net.state_dict().items()},
        },
        path,
    )


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("photos")
    for i, photo in enumerate(PHOTOS):
        Image.fromarray(photo).save(folder / f"p{i}.png")
    return folder


def test_the_curve_has_every_count_and_a_network_that_copies_hints_improves_with_each():
    curve = curve_of(copying_colorizer())
    assert curve["counts"] == list(EVAL_HINT_COUNTS) == [0, 1, 2, 5, 10, 20, 50, 100]
    assert all(len(curve[m]) == 8 for m in ("psnr", "delta_e", "delta_cf"))
    psnr, delta_e = curve["psnr"], curve["delta_e"]
    assert all(a <= b for a, b in zip(psnr, psnr[1:])) and psnr[-1] > psnr[0] + 1
    assert all(a >= b for a, b in zip(delta_e, delta_e[1:])) and delta_e[-1] < delta_e[0] - 1


def test_the_same_model_gives_the_same_curve_every_time():
    assert curve_of(copying_colorizer()) == curve_of(copying_colorizer())


def test_fewer_hints_are_among_more_and_each_image_has_its_own():
    rgb = torch.from_numpy(PHOTOS[0].copy()).permute(2, 0, 1)[None].float() / 255
    _, one = colorize_with_hints(copying_colorizer(), rgb.expand(2, -1, -1, -1), 1, 32, [0, 1])
    _, five = colorize_with_hints(copying_colorizer(), rgb.expand(2, -1, -1, -1), 5, 32, [0, 1])
    for field_one, field_five in zip(one, five, strict=True):
        assert torch.equal(field_five[:, :1], field_one)
    assert (one.top[0], one.left[0]) != (one.top[1], one.left[1])  # image 1 (seed 1) is not hinted where image 0 is
    assert set(five.side.flatten().tolist()) == {EVAL_PATCH}


def test_a_model_without_local_hints_has_no_curve():
    options = model_options("none")
    assert hint_rows(build_colorizer(FAMILIES["cnn"].spec(options, "lab")).net, 32) == {}


def test_evaluate_adds_the_curve_of_a_hint_model_and_nothing_for_others(tmp_path, photos, capsys):
    for hints in ("local", "none"):
        checkpoint = tmp_path / hints / "model.ckpt"
        write_checkpoint(checkpoint, hints)
        out = tmp_path / hints / "eval"
        args = [str(checkpoint), "--data", str(photos), "--out", str(out), "--size", "32", "--no-fid", "--device", "cpu"]
        assert evaluate_main(args) == 0
        report = json.loads((out / "metrics.json").read_text())
        printed = capsys.readouterr().out
        assert list(report["rows"]) == ["cnn-lab", "grey", *(f"{space} round trip" for space in SPACE_NAMES)]
        if hints == "none":
            assert "hint_curve" not in report and "hints" not in printed
            continue
        curve = report["hint_curve"]
        assert curve["counts"] == list(EVAL_HINT_COUNTS)
        # No hint is what the model's own row scored: the curve is scored as that row is.
        for metric in ("psnr", "delta_e", "delta_cf"):
            assert curve[metric][0] == pytest.approx(report["rows"]["cnn-lab"][metric], rel=1e-6)
        # Each count's scores are kept photo by photo too, so a gain from hints can be paired by photo.
        per_photo = report["photo_scores"]["rows"]
        assert {f"{n} hint{'' if n == 1 else 's'}" for n in EVAL_HINT_COUNTS} <= set(per_photo)
        assert per_photo["0 hints"]["psnr"] == pytest.approx(per_photo["cnn-lab"]["psnr"], rel=1e-6)
        assert len(per_photo["10 hints"]["delta_e"]) == len(report["photo_scores"]["ids"])
        assert "With local hints" in printed and "ΔE2000" in printed.split("With local hints")[1]


def test_outlines_frame_each_patch_at_the_images_scale():
    images = torch.full((1, 3, 40, 60), 0.5)
    points = HintPoints(*(torch.tensor([[v]]) for v in (5, 10, 3)), torch.tensor([[True]]))
    framed = outline_patches(images, points, (20, 30))  # at twice the working size: the patch is rows 10..15, cols 20..25
    assert torch.equal(framed[0, :, 10:16, 20:26], images[0, :, 10:16, 20:26])
    assert (framed[0, :, 9, 19:27] == 1).all() and (framed[0, :, 16, 19:27] == 1).all()
    assert (framed[0, :, 8, 18:28] == 0).all() and (framed[0, :, 10:16, 18] == 0).all()
    assert (framed[0, :, 20:, :] == 0.5).all() and torch.equal(images, torch.full((1, 3, 40, 60), 0.5))


def test_compare_draws_the_hint_sheet_on_a_photo_given(tmp_path, photos, monkeypatch, capsys):
    """``--hint-sheet PHOTO``: that photo, as evaluate scales it, with 0, 1, 5 and 20 hints for each hint model; a clear
    line where there is none, or the photo cannot be read."""
    runs = tmp_path / "runs"
    make_run(runs, "plain", photos, "none", "lab")
    argv = ["--out", str(tmp_path / "report"), "--device", "cpu", "--no-fid", "--sheet-images", "1"]
    assert compare_main([str(runs), *argv, "--hint-sheet", str(photos / "p0.png")]) == 0
    assert "note: No run takes local hints" in capsys.readouterr().out

    make_run(runs, "hints-lab", photos, "local", "lab")
    drawn = {}
    image_sheet = colorize.reports.comparison.image_sheet

    def keep(columns, path, row_titles=()):
        drawn[path.name] = [(title, tuple(images.shape)) for title, images in columns]
        return image_sheet(columns, path, row_titles)

    monkeypatch.setattr(colorize.reports.comparison, "image_sheet", keep)
    assert compare_main([str(runs), *argv, "--hint-sheet", str(photos / "p0.png")]) == 0
    titles = ["0 hints", "1 hint", "5 hints", "20 hints", "ground truth"]
    assert drawn["hint_sheet.png"] == [(title, (1, 3, 40, 56)) for title in titles]  # the photo's own 40x56, one row
    assert Image.open(tmp_path / "report" / "hint_sheet.png").size[0] > 100
    (tmp_path / "broken.png").write_bytes(b"not a photo")
    assert compare_main([str(runs), *argv, "--hint-sheet", str(tmp_path / "broken.png")]) == 2
    assert "broken.png" in capsys.readouterr().err


def make_run(runs, name: str, photos, hints: str, space: str) -> None:
    """A run directory as training leaves one: config, metrics.csv with one validation, a checkpoint."""
    run = runs / name
    config = load_config([*TINY, f"model.hints={hints}", f"space={space}", "data=folder", f"data.root={photos}"])
    config.data.val_root = str(photos)
    run.mkdir(parents=True)
    OmegaConf.save(config, run / "config.yaml")
    (run / "metrics.csv").write_text("epoch,step,val/delta_e,val/psnr\n0,1,10.0,20.0\n")
    write_checkpoint(run / "checkpoints" / "last.ckpt", hints, space)


def test_compare_plots_the_curves_of_evaluated_hint_models_and_nothing_without(tmp_path, photos):
    runs = tmp_path / "runs"
    make_run(runs, "plain", photos, "none", "lab")
    report = tmp_path / "report-none"
    assert compare_main([str(runs), "--out", str(report), "--device", "cpu", "--no-fid", "--sheet-images", "1"]) == 0
    assert not list(report.glob("hint_*")) and "Colour hints" not in (report / "report.md").read_text()

    for space in ("lab", "luv"):
        make_run(runs, f"hints-{space}", photos, "local", space)
        checkpoint = runs / f"hints-{space}" / "checkpoints" / "last.ckpt"
        assert evaluate_main([str(checkpoint), "--data", str(photos), "--size", "32", "--no-fid", "--device", "cpu"]) == 0
    report = tmp_path / "report"
    assert compare_main([str(runs), "--out", str(report), "--device", "cpu", "--no-fid", "--sheet-images", "1"]) == 0
    assert Image.open(report / "hint_curves.png").size[0] > 500
    assert Image.open(report / "hint_sheet.png").size[0] > 100
    with open(report / "hint_curves.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    evaluated = json.loads(next((runs / "hints-luv" / "evaluation").glob("*/metrics.json")).read_text())["hint_curve"]
    luv = [r for r in rows if r["space"] == "luv"]
    assert [int(r["hints"]) for r in luv] == list(EVAL_HINT_COUNTS)
    assert [float(r["psnr"]) for r in luv] == pytest.approx(evaluated["psnr"])
    assert {r["model"] for r in rows} == {"cnn", "Zhang et al. 2017 (ImageNet, 256²)"}  # the plain run has no curve
    zhang = {int(r["hints"]): float(r["psnr"]) for r in rows if r["model"] != "cnn"}
    assert zhang == {0: 24.43, 1: 25.37, 10: 28.42, 100: 31.13}
    markdown = (report / "report.md").read_text()
    assert "## Colour hints" in markdown and "![hint_curves.png](hint_curves.png)" in markdown
    assert "![hint_sheet.png](hint_sheet.png)" in markdown and "not comparable in absolute terms" in markdown

    # What 10 hints change, paired by photo: with one seed, the mean over photos of each photo's difference.
    with open(report / "hint_gains.csv", newline="") as f:
        gains = {(r["space"], r["metric"]): r for r in csv.DictReader(f)}
    assert set(gains) == {(space, metric) for space in ("lab", "luv") for metric in ("psnr", "delta_e")}
    scores = json.loads(next((runs / "hints-luv" / "evaluation").glob("*/metrics.json")).read_text())["photo_scores"]
    ten, none = scores["rows"]["10 hints"]["psnr"], scores["rows"]["0 hints"]["psnr"]
    gain = gains[("luv", "psnr")]
    assert float(gain["difference"]) == pytest.approx(sum(a - b for a, b in zip(ten, none, strict=True)) / len(ten))
    assert float(gain["low"]) <= float(gain["difference"]) <= float(gain["high"])
    assert (gain["hints"], gain["against"], gain["seeds"], gain["photos"]) == ("10 hints", "0 hints", "1", str(len(ten)))
    assert "What 10 hints change against none" in markdown

    # A run evaluated before the curve was kept photo by photo: its cell's gain is not stated, and a note says why.
    metrics_json = next((runs / "hints-luv" / "evaluation").glob("*/metrics.json"))
    old = json.loads(metrics_json.read_text())
    old["photo_scores"]["rows"] = {k: v for k, v in old["photo_scores"]["rows"].items() if "hint" not in k}
    metrics_json.write_text(json.dumps(old))
    assert compare_main([str(runs), "--out", str(report), "--device", "cpu", "--no-fid", "--sheet-images", "1"]) == 0
    with open(report / "hint_gains.csv", newline="") as f:
        assert {r["space"] for r in csv.DictReader(f)} == {"lab"}
    hinted_luv = next(cell.name for cell in group_cells(find_runs(runs)) if cell.space == "luv")
    assert f"{hinted_luv}: its runs' hint curves are not all kept photo by photo" in (report / "report.md").read_text()
