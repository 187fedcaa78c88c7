"""Colour hints a person gives at inference: predict --hints and --reference, and what they do to the colours."""

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

import colorize.inference.loading
from colorize.images import read_rgb, upright_size
from colorize.inference.colorizing import PAD_MULTIPLE, colorize_lightness, network_predictor, resize
from colorize.inference.hinting import UserHints, parse_hints
from colorize.inference.loading import load_colorizer
from colorize.portable import working_shape
from colorize.predict import main
from conftest import SPACE_NAMES, copying_colorizer, hint_checkpoint, random_photo

RED, BLUE = (200, 60, 40), (40, 90, 200)


def hints_file(path, *hints: dict, **top):
    path.write_text(json.dumps({"hints": list(hints), **top}))
    return path


def flat_photo(path, colour, width: int, height: int):
    Image.fromarray(np.full((height, width, 3), colour, dtype=np.uint8)).save(path)
    return path


def spread(pixel: np.ndarray) -> int:
    return int(pixel.max()) - int(pixel.min())


@pytest.mark.parametrize("space_name", SPACE_NAMES)
def test_a_hint_colours_the_photo_near_its_point(space_name):
    net = copying_colorizer(space_name)
    space = net.space
    rgb = torch.tensor(RED, dtype=torch.uint8).view(1, 3, 1, 1).expand(1, 3, 60, 90)
    lightness = space.encode(rgb)[0]
    points = parse_hints(json.dumps({"hints": [{"x": 30, "y": 20, "color": list(RED), "patch": 5}]}), (90, 60))
    guided = colorize_lightness(space, lightness, network_predictor(net, UserHints(points, (90, 60))), 30)
    automatic = colorize_lightness(space, lightness, network_predictor(net), 30)
    target = torch.tensor(RED) / 255
    assert (guided[0, :, 20, 30] - target).abs().max() < 2 / 255  # the hint's colour at its point
    assert (automatic[0, :, 20, 30] - target).abs().max() > 0.2  # grey without it
    torch.testing.assert_close(guided[0, :, 50, 80], automatic[0, :, 50, 80])  # and unchanged far from it


@pytest.mark.parametrize("space_name", SPACE_NAMES)
def test_predict_with_a_hints_file(space_name, tmp_path, monkeypatch):
    """End to end, hints in pixels of the full-size photo; the photo is stored turned (EXIF) and its hints are upright."""
    monkeypatch.setattr(colorize.inference.loading, "load_colorizer", lambda *_: copying_colorizer(space_name))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display: 120x80 stored, 80x120 shown
    Image.fromarray(np.full((80, 120, 3), RED, dtype=np.uint8)).save(tmp_path / "photo.jpg", exif=exif, quality=100)
    assert upright_size(tmp_path / "photo.jpg") == (80, 120)
    hints = hints_file(
        tmp_path / "hints.json", {"x": 20, "y": 100, "color": "#c83c28"}, {"x": 60, "y": 30, "color": list(BLUE)}, patch=5
    )
    out = tmp_path / "colour.png"
    assert main(["model.ckpt", str(tmp_path / "photo.jpg"), str(out), "--size", "40", "--hints", str(hints)]) == 0
    colour = np.asarray(Image.open(out)).astype(int)
    assert colour.shape == (120, 80, 3)
    assert np.abs(colour[100, 20] - RED).max() <= 3  # the photo's own colour, hinted where it was
    assert colour[30, 60, 2] > colour[30, 60, 0] + 40  # blue where it was hinted blue, at the photo's lightness
    assert spread(colour[60, 40]) <= 2  # grey away from the hints


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hint-models")
    return {hints: hint_checkpoint(folder, hints, "lab") for hints in ("none", "local", "global", "both")}


def test_a_model_without_hints_predicts_as_before(checkpoints, tmp_path):
    photo = tmp_path / "photo.png"
    Image.fromarray(random_photo(75, 101, seed=2)).save(photo)
    assert main([str(checkpoints["none"]), str(photo), str(tmp_path / "out.png"), "--size", "40"]) == 0
    net = load_colorizer(checkpoints["none"])
    lightness = net.space.encode(read_rgb(photo)[None])[0]
    small = resize(lightness, working_shape(75, 101, 40))
    pad = [(-side) % PAD_MULTIPLE for side in small.shape[-2:]]
    with torch.no_grad():
        chroma = net(F.pad(small, (0, pad[1], 0, pad[0]), mode="replicate"))[..., : small.shape[-2], : small.shape[-1]]
    chroma = F.interpolate(chroma, size=(75, 101), mode="bilinear", align_corners=False)
    expected = (net.space.decode_in_gamut(lightness, chroma)[0].clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()
    assert np.array_equal(np.asarray(Image.open(tmp_path / "out.png")), expected)


def test_a_reference_photo_changes_the_colours_of_every_photo(checkpoints, tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(2):
        Image.fromarray(random_photo(48, 64, seed=i)).save(photos / f"p{i}.png")
    reference = flat_photo(tmp_path / "reference.png", BLUE, 50, 40)
    both = str(checkpoints["both"])
    assert main([both, str(photos), str(tmp_path / "plain"), "--size", "32"]) == 0
    assert main([both, str(photos), str(tmp_path / "styled"), "--size", "32", "--reference", str(reference)]) == 0
    for i in range(2):
        plain, styled = (np.asarray(Image.open(tmp_path / run / f"p{i}.png")).astype(int) for run in ("plain", "styled"))
        assert np.abs(plain - styled).max() > 3
    # Both kinds at once, on one photo.
    hints = hints_file(tmp_path / "hints.json", {"x": 10, "y": 10, "color": "#ffffff"})
    args = ["--size", "32", "--reference", str(reference), "--hints", str(hints)]
    assert main([both, str(photos / "p0.png"), str(tmp_path / "p0.png"), *args]) == 0


@pytest.mark.parametrize(
    ("model", "args", "words"),
    [
        ("none", ["--hints", "{hints}"], ["without local colour hints (model.hints=none)", "cannot take --hints"]),
        ("local", ["--reference", "{photo}"], ["without a global hint (model.hints=local)", "--reference"]),
        ("global", ["--hints", "{hints}"], ["model.hints=global", "--hints"]),
        ("local", ["--hints", "{outside}"], ["hint 2", "(x=64, y=5) is outside the 64x48 photo"]),
        ("local", ["--hints", "{bright}"], ["hint 1 (x=3, y=4)", "color [300, 0, 0] is out of range"]),
        ("local", ["--hints", "{missing}"], ["Cannot read the hints file", "missing.json"]),
        ("both", ["--reference", "{broken}"], ["broken.png: cannot read as an image"]),
        ("local", ["--hints", "{hints}", "INPUT={folder}"], ["one photo", "INPUT holds 2 photos"]),
        ("global", ["--reference", "{photo}", "INPUT={video}"], ["--reference", "film.mp4 is a video"]),
    ],
)
def test_hint_errors_are_one_clear_line(checkpoints, tmp_path, capsys, model, args, words):
    folder = tmp_path / "folder"
    folder.mkdir()
    for name in ("a.png", "b.png"):
        Image.fromarray(random_photo(48, 64)).save(folder / name)
    (tmp_path / "film.mp4").write_bytes(b"")
    (tmp_path / "broken.png").write_bytes(b"not a photo")
    point = {"x": 10, "y": 20, "color": "#ff8800"}
    paths = {
        "photo": folder / "a.png",
        "folder": folder,
        "video": tmp_path / "film.mp4",
        "broken": tmp_path / "broken.png",
        "missing": tmp_path / "missing.json",
        "hints": hints_file(tmp_path / "hints.json", point),
        "outside": hints_file(tmp_path / "outside.json", point, {"x": 64, "y": 5, "color": "#ff8800"}),
        "bright": hints_file(tmp_path / "bright.json", {"x": 3, "y": 4, "color": [300, 0, 0]}),
    }
    words_args = [arg.format(**paths) for arg in args]
    source = next((arg.removeprefix("INPUT=") for arg in words_args if arg.startswith("INPUT=")), str(paths["photo"]))
    options = [arg for arg in words_args if not arg.startswith("INPUT=")]
    assert main([str(checkpoints[model]), source, str(tmp_path / "out"), "--size", "32", *options]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    for word in words:
        assert word in err, err
    assert not (tmp_path / "out").exists()
