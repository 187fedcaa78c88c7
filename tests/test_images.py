"""Every odd kind of image file loads as 8-bit RGB, and unreadable ones fail with the file's name."""

import numpy as np
import pytest
import torch
from PIL import Image

from colorize.images import ImageReadError, read_rgb
from conftest import random_photo


@pytest.fixture
def rgb() -> np.ndarray:
    return random_photo(40, 50, seed=3)


def check(path, expected: np.ndarray, tol: float) -> None:
    tensor = read_rgb(path)
    assert tensor.dtype == torch.uint8 and tensor.shape == (3, *expected.shape[:2])
    assert np.abs(tensor.permute(1, 2, 0).numpy().astype(int) - expected.astype(int)).mean() <= tol


@pytest.mark.parametrize("ext", ["png", "bmp", "tiff", "webp"])
def test_lossless_formats_load_exactly(tmp_path, rgb, ext):
    path = tmp_path / f"x.{ext}"
    Image.fromarray(rgb).save(path, **({"lossless": True} if ext == "webp" else {}))
    check(path, rgb, 0)


def test_jpeg_loads_close(tmp_path, rgb):
    Image.fromarray(rgb).save(tmp_path / "x.jpg", quality=95)
    check(tmp_path / "x.jpg", rgb, 3)


def test_grayscale_becomes_three_equal_channels(tmp_path, rgb):
    Image.fromarray(rgb).convert("L").save(tmp_path / "g.png")
    tensor = read_rgb(tmp_path / "g.png")
    assert tensor.shape == (3, 40, 50)
    assert torch.equal(tensor[0], tensor[1]) and torch.equal(tensor[1], tensor[2])


def test_rgba_and_gray_alpha_drop_alpha(tmp_path, rgb):
    Image.fromarray(rgb).convert("RGBA").save(tmp_path / "a.png")
    check(tmp_path / "a.png", rgb, 0)
    Image.fromarray(rgb).convert("LA").save(tmp_path / "la.png")
    assert read_rgb(tmp_path / "la.png").shape == (3, 40, 50)


def test_palette_with_transparency(tmp_path, rgb):
    palette = Image.fromarray(rgb).convert("P")
    palette.save(tmp_path / "p.png", transparency=0)
    expected = np.asarray(palette.convert("RGB"))
    check(tmp_path / "p.png", expected, 0)


def test_16_bit_png_scales_to_8_bit(tmp_path, rgb):
    Image.fromarray(rgb[..., 0].astype(np.uint16) * 257).save(tmp_path / "g16.png")
    tensor = read_rgb(tmp_path / "g16.png")
    assert tensor.dtype == torch.uint8
    assert torch.equal(tensor[0], torch.from_numpy(rgb[..., 0]))


def test_cmyk_jpeg_loads_as_rgb(tmp_path, rgb):
    Image.fromarray(rgb).convert("CMYK").save(tmp_path / "c.jpg", quality=95)
    check(tmp_path / "c.jpg", rgb, 4)


def test_exif_rotation_is_applied(tmp_path, rgb):
    image = Image.fromarray(rgb)
    exif = image.getexif()
    exif[0x0112] = 6  # rotate 90° clockwise on display
    image.save(tmp_path / "r.jpg", exif=exif, quality=95)
    tensor = read_rgb(tmp_path / "r.jpg")
    assert tensor.shape == (3, 50, 40)
    expected = np.rot90(rgb, k=-1)
    assert np.abs(tensor.permute(1, 2, 0).numpy().astype(int) - expected.astype(int)).mean() < 3


@pytest.mark.parametrize("content", [b"", b"not an image at all", "truncated"])
def test_unreadable_files_name_the_file(tmp_path, rgb, content):
    path = tmp_path / "bad.jpg"
    if content == "truncated":
        Image.fromarray(rgb).save(path)
        content = path.read_bytes()[:200]
    path.write_bytes(content)
    with pytest.raises(ImageReadError, match="bad.jpg"):
        read_rgb(path)


def test_corrupt_png_raises_instead_of_crashing(tmp_path, rgb):
    """torchvision 0.29's PNG decoder segfaults on this (it would kill the run); read_rgb raises."""
    Image.fromarray(rgb).save(tmp_path / "bad.png")
    data = bytearray((tmp_path / "bad.png").read_bytes())
    data[60:200] = bytes(140)  # zeroes over the compressed pixels
    (tmp_path / "bad.png").write_bytes(bytes(data))
    with pytest.raises(ImageReadError, match="bad.png"):
        read_rgb(tmp_path / "bad.png")


def test_huge_image_is_refused_before_decoding(tmp_path):
    Image.new("RGB", (3000, 3000)).save(tmp_path / "big.png")
    with pytest.raises(ImageReadError, match="big.png.*limit"):
        read_rgb(tmp_path / "big.png", max_pixels=1_000_000)
