"""Colorizing a user's photos: full resolution, L kept, EXIF orientation, inputs untouched, folders."""

import errno
import hashlib
import os

import numpy as np
import pytest
import torch
from PIL import Image
from skimage import color

import colorize.files
from colorize.predict import main
from conftest import random_photo


@pytest.fixture(scope="module")
def checkpoint(trained_runs):
    return str(trained_runs / "cnn-luv-seed0" / "checkpoints" / "last.ckpt")


def digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def lightness(image: np.ndarray) -> np.ndarray:
    return color.rgb2lab(image)[..., 0]


@pytest.mark.parametrize("ext", ["png", "jpg"])
def test_odd_size_output_keeps_size_and_lightness_and_the_input(tmp_path, checkpoint, ext):
    photo = tmp_path / f"odd.{ext}"
    Image.fromarray(random_photo(767, 1023, seed=3)).save(photo)
    before = digest(photo)
    source = np.asarray(Image.open(photo).convert("RGB"))  # the decoded input, JPEG artefacts included

    assert main([checkpoint, str(photo), str(tmp_path / "out"), "--device", "cpu"]) == 0
    out = np.asarray(Image.open(tmp_path / "out" / "odd.png"))
    assert out.shape == (767, 1023, 3)
    # L is the input's L, up to rounding to uint8; the chroma is the model's (not the input's).
    assert np.abs(lightness(out) - lightness(source)).max() < 0.5
    assert np.abs(out.astype(int) - source).max() > 5
    assert digest(photo) == before


def test_exif_orientation_is_respected(tmp_path, checkpoint):
    stored = random_photo(40, 70, seed=1)  # stored landscape, to be displayed rotated: portrait
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90° clockwise to display
    Image.fromarray(stored).save(tmp_path / "rotated.jpg", exif=exif)
    assert main([checkpoint, str(tmp_path / "rotated.jpg"), str(tmp_path / "out")]) == 0
    out = np.asarray(Image.open(tmp_path / "out" / "rotated.png"))
    upright = np.asarray(Image.fromarray(stored).transpose(Image.Transpose.ROTATE_270))
    assert out.shape == (70, 40, 3)
    assert np.abs(lightness(out) - lightness(upright)).mean() < 1.0  # JPEG artefacts aside, the same picture


def test_folder_is_mirrored_with_grayscale_and_side_by_side(tmp_path, photo_folder, checkpoint, capsys):
    Image.fromarray(random_photo(50, 60, seed=9)).convert("L").save(photo_folder / "b" / "grey.png")
    inputs = {p: digest(p) for p in photo_folder.rglob("*") if p.is_file()}
    out = tmp_path / "coloured"
    assert main([checkpoint, str(photo_folder), str(out), "--side-by-side"]) == 0
    for source in inputs:
        target = out / source.relative_to(photo_folder).with_suffix(".png")
        width, height = Image.open(source).size
        assert Image.open(target).size == (width, height)
        pair = Image.open(target.with_name(f"{target.stem}-side-by-side.png"))
        assert pair.size == (2 * width, height)
    assert np.asarray(Image.open(out / "b" / "grey.png")).ndim == 3
    assert {p: digest(p) for p in inputs} == inputs

    # A second run writes nothing and says so.
    first = {p: digest(p) for p in out.rglob("*.png")}
    capsys.readouterr()
    assert main([checkpoint, str(photo_folder), str(out), "--side-by-side"]) == 0
    assert f"skipped {len(inputs)} file(s)" in capsys.readouterr().out
    assert {p: digest(p) for p in out.rglob("*.png")} == first


def test_refuses_to_write_onto_its_inputs(tmp_path, photo_folder, checkpoint, capsys):
    inputs = {p: digest(p) for p in photo_folder.rglob("*") if p.is_file()}
    assert main([checkpoint, str(photo_folder), str(photo_folder), "--format", "same", "--overwrite"]) == 2
    assert "would be overwritten" in capsys.readouterr().err
    assert {p: digest(p) for p in photo_folder.rglob("*") if p.is_file()} == inputs


def test_unreadable_photo_is_reported_and_the_rest_done(tmp_path, checkpoint, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    Image.fromarray(random_photo(32, 32)).save(folder / "good.png")
    (folder / "broken.jpg").write_bytes(b"not a jpeg")
    assert main([checkpoint, str(folder), str(tmp_path / "out")]) == 1
    assert (tmp_path / "out" / "good.png").is_file() and not (tmp_path / "out" / "broken.png").exists()
    assert "broken.jpg" in capsys.readouterr().err


def test_refuses_to_write_onto_a_single_input(tmp_path, checkpoint, capsys):
    photo = tmp_path / "photo.png"
    Image.fromarray(random_photo(32, 32)).save(photo)
    before = digest(photo)
    assert main([checkpoint, str(photo), str(tmp_path), "--overwrite"]) == 2
    assert "would be overwritten" in capsys.readouterr().err and digest(photo) == before


def test_an_output_with_an_image_suffix_is_a_file_for_one_photo(tmp_path, checkpoint, capsys):
    photo = tmp_path / "in" / "photo.jpg"
    photo.parent.mkdir()
    Image.fromarray(random_photo(40, 56)).save(photo)
    assert main([checkpoint, str(photo), str(tmp_path / "colour.png"), "--side-by-side"]) == 0
    assert Image.open(tmp_path / "colour.png").size == (56, 40)
    assert Image.open(tmp_path / "colour-side-by-side.png").size == (112, 40)
    assert not (tmp_path / "colour.png").is_dir()
    assert main([checkpoint, str(photo), str(tmp_path / "colour.jpg")]) == 0
    assert Image.open(tmp_path / "colour.jpg").format == "JPEG"
    # Without an image suffix, OUTPUT is a folder, as before.
    assert main([checkpoint, str(photo), str(tmp_path / "results")]) == 0
    assert (tmp_path / "results" / "photo.png").is_file()


def test_an_output_file_that_cannot_hold_the_input_is_a_clear_error(tmp_path, photo_folder, checkpoint, capsys):
    assert main([checkpoint, str(photo_folder), str(tmp_path / "colour.png")]) == 2
    assert "names a file, but" in capsys.readouterr().err and not (tmp_path / "colour.png").exists()
    photo = next(photo_folder.rglob("*.png"))
    assert main([checkpoint, str(photo), str(tmp_path / "colour.mp4")]) == 2
    assert "name an image file" in capsys.readouterr().err


def test_missing_checkpoint_is_a_clear_error(tmp_path, capsys):
    Image.fromarray(random_photo(32, 32)).save(tmp_path / "photo.png")
    assert main([str(tmp_path / "nope.ckpt"), str(tmp_path / "photo.png"), str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "no such checkpoint" in err and "Traceback" not in err


@pytest.mark.parametrize("kind", ["state_dict", "other_format", "text"])
def test_a_checkpoint_that_is_not_colorize_s_is_a_clear_error(tmp_path, checkpoint, capsys, kind):
    path = tmp_path / "model.ckpt"
    if kind == "state_dict":  # e.g. a timm model's weights
        torch.save(torch.nn.Linear(2, 2).state_dict(), path)
    elif kind == "other_format":  # written by a later colorize
        saved = torch.load(checkpoint, weights_only=True)
        saved["colorize"]["format"] += 1
        torch.save(saved, path)
    else:
        path.write_text("not a checkpoint")
    Image.fromarray(random_photo(32, 32)).save(tmp_path / "photo.png")
    assert main([str(path), str(tmp_path / "photo.png"), str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert f"error: {path}" in err and "colorize" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_a_corrupt_png_is_reported_instead_of_crashing(tmp_path, checkpoint, capsys):
    """torchvision 0.29 segfaults on this PNG; predict reports it and colorizes the rest."""
    folder = tmp_path / "in"
    folder.mkdir()
    Image.fromarray(random_photo(32, 32)).save(folder / "good.png")
    Image.fromarray(random_photo(64, 64)).save(folder / "corrupt.png")
    data = bytearray((folder / "corrupt.png").read_bytes())
    data[60:200] = bytes(140)
    (folder / "corrupt.png").write_bytes(bytes(data))
    assert main([checkpoint, str(folder), str(tmp_path / "out")]) == 1
    assert (tmp_path / "out" / "good.png").is_file() and "corrupt.png" in capsys.readouterr().err


def test_a_full_disk_is_a_clear_error_and_leaves_no_half_written_output(tmp_path, checkpoint, monkeypatch, capsys):
    Image.fromarray(random_photo(32, 32)).save(tmp_path / "photo.png")

    def no_space(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(colorize.files.os, "fsync", no_space)
    assert main([checkpoint, str(tmp_path / "photo.png"), str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "No space left" in err and str(tmp_path / "out" / "photo.png") in err and "Traceback" not in err
    assert list((tmp_path / "out").iterdir()) == []
