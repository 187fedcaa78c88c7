"""Evaluation: metrics equal values computed independently; reference rows; FID only where it can be reported, its
cost said first."""

import csv
import json

import numpy as np
import pytest
import torch
from PIL import Image
from skimage import color

from colorize.evaluate import main
from colorize.inference.loading import load_colorizer
from colorize.reports.fid_lpips import inception_features
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
    # At the photos' own size nothing is resampled: an 8-bit photo comes back exactly from either space.
    assert list(rows) == ["cnn-lab", "grey"]
    every_trip = ", ".join(f"{space} round trip" for space in SPACE_NAMES)
    (trip_note,) = [note for note in report["notes"] if "round trip" in note]  # one note for all
    assert trip_note.startswith(f"{every_trip} left out: every output was exactly its truth")
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

    # Each photo's own scores, in metrics.json and photo_scores.csv, so that two rows can be paired photo by photo.
    per_photo = report["photo_scores"]
    assert per_photo["ids"] == ["k0.png", "k1.png", "k2.png"] and per_photo["pixels"] == [64 * 96] * 3
    with open(out / "photo_scores.csv", newline="") as f:
        lines = {(line["row"], line["photo"]): line for line in csv.DictReader(f)}
    assert len(lines) == 2 * 3
    for name, images in [("grey", greys), ("cnn-lab", outputs)]:
        assert "delta_cf" not in per_photo["rows"][name]  # a gap between two sets' means: it has no value per photo
        for i, (image, truth) in enumerate(zip(images, truths, strict=True)):
            expected = expected_metrics([np.round(image * 255) / 255], [truth])
            for metric in ("psnr", "delta_e", "cf"):
                value = per_photo["rows"][name][metric][i]
                assert value == pytest.approx(expected[metric], rel=1e-4, abs=1e-4), (name, i, metric)
                assert float(lines[(name, f"k{i}.png")][metric]) == pytest.approx(value, rel=1e-6)
        # The set's ΔE2000 is the pixel-weighted mean of the photos'.
        assert rows[name]["delta_e"] == pytest.approx(np.mean(per_photo["rows"][name]["delta_e"]), rel=1e-6)

    printed = capsys.readouterr().out
    assert "grey" in printed and "note: lab round trip, luv round trip" in printed and "compare's reference rows" in printed
    assert "fid" not in rows["grey"] and "FID runs" not in printed and "FID images" not in printed  # --no-fid
    # LPIPS of the grey rows, or it says why it is left out.
    if "lpips" in rows["grey"]:
        assert rows["grey"]["lpips"] > 0.05 and "LPIPS" in printed
    else:
        assert any(note.startswith("LPIPS left out: ") and "make weights" in note for note in report["notes"])


@pytest.mark.slow
def test_lpips_and_fid_with_its_image_count_are_in_the_table(tmp_path, known_folder, trained_runs, capsys):
    from colorize.downloads import install_metric_weights
    from colorize.weight_files import WeightsUnavailable

    try:
        install_metric_weights(say=lambda line: None)
    except WeightsUnavailable as e:
        pytest.skip(f"make weights failed, so LPIPS and FID cannot be checked here: {e}")
    checkpoint = trained_runs / "cnn-lab-seed0" / "checkpoints" / "last.ckpt"
    assert main([str(checkpoint), "--data", str(known_folder), "--out", str(tmp_path), "--eval-size", "64"]) == 0
    rows = json.loads((tmp_path / "metrics.json").read_text())["rows"]
    assert all(row["fid_images"] == 3 and row["lpips"] >= 0 for row in rows.values())
    assert rows["grey"]["fid"] > rows["lab round trip"]["fid"] and rows["grey"]["lpips"] > rows["lab round trip"]["lpips"]
    printed = capsys.readouterr().out
    assert "FID images" in printed
    assert "FID runs its Inception network on the CPU" in printed
    assert f"for 3 image(s) and {2 + len(SPACE_NAMES)} row(s)" in printed
    assert printed.index("FID runs its Inception network") < printed.index("FID images")  # said before it starts


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


class CountingFeatures(torch.nn.Module):
    """A small network given as --fid-weights (TorchScript, as FID's own): (N, 3, 299, 299) -> (N, 2048) features,
    counting the images it is run on."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.project = torch.nn.Linear(3 * 4 * 4, 2048)
        self.register_buffer("images", torch.zeros((), dtype=torch.long))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.images += x.shape[0]
        return self.project(torch.nn.functional.adaptive_avg_pool2d(x, 4).flatten(1))


@pytest.fixture
def counting_fid(tmp_path):
    """The path of a :class:`CountingFeatures` network, and a function that says how many images it was run on."""
    path = tmp_path / "counting-features.pt"
    torch.jit.script(CountingFeatures()).save(str(path))
    inception_features.cache_clear()
    yield str(path), lambda: int(inception_features(str(path)).net.images)
    inception_features.cache_clear()


def test_fid_says_its_cost_first_and_runs_its_network_once_on_the_truth_and_never_on_outputs_equal_to_it(
    trained_runs, known_folder, tmp_path, counting_fid, capsys
):
    path, images_seen = counting_fid
    checkpoint = trained_runs / "cnn-lab-seed0" / "checkpoints" / "last.ckpt"
    argv = [str(checkpoint), "--data", str(known_folder), "--out", str(tmp_path), "--eval-size", "0", "--size", "96"]
    assert main([*argv, "--fid-weights", path, "--no-hint-curve"]) == 0
    printed = capsys.readouterr().out
    said = next(line for line in printed.splitlines() if line.startswith("FID runs"))
    row_count = 2 + len(SPACE_NAMES)  # the model, grey and each space's round trip
    assert "s an image here (measured now): up to about" in said and f"for 3 image(s) and {row_count} row(s)" in said
    assert printed.index(said) < printed.index("FID images")  # before it starts
    rows = json.loads((tmp_path / "metrics.json").read_text())["rows"]
    assert list(rows) == ["cnn-lab", "grey"] and rows["grey"]["fid"] > 0 and rows["cnn-lab"]["fid_images"] == 3
    # 2 to measure its speed, the 3 truths once for every row, the 3 outputs of the model and of grey; none for
    # the round trips, whose every output is exactly its truth.
    assert images_seen() == 2 + 3 + 3 + 3


def test_fid_of_one_photo_is_left_out_before_its_network_runs(trained_runs, tmp_path, counting_fid, capsys):
    path, images_seen = counting_fid
    checkpoint = trained_runs / "cnn-lab-seed0" / "checkpoints" / "last.ckpt"
    assert main([str(checkpoint), "--eval-size", "64", "--out", str(tmp_path), "--fid-weights", path]) == 0  # chelsea
    printed = capsys.readouterr().out
    assert "note: FID left out: it compares two sets of at least 2 images, and there is 1" in printed
    assert "FID runs" not in printed and images_seen() == 0
    report = json.loads((tmp_path / "metrics.json").read_text())
    assert not any("fid" in row for row in report["rows"].values())
    assert any(note.startswith("FID left out") for note in report["notes"])


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
