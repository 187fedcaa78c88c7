"""Every space on every surface a user reaches: predict (a photo with a hint, a video) and the demo, each in lab, luv,
oklab and ycbcr (ONNX and onnx_predict in every space: tests/test_export.py)."""

import json

import numpy as np
import pytest
import torch
from PIL import Image
from skimage import data

from colorize.inference.demo import Shown, colorize_photos
from colorize.inference.loading import load_colorizer
from colorize.inference.video import read_frames, write_video
from colorize.predict import main as predict
from conftest import SPACE_NAMES, hint_checkpoint, random_photo

BLUE = [30, 100, 255]


def spread(image: np.ndarray) -> int:
    """How far a pixel is from grey."""
    return int(image.max()) - int(image.min())


@pytest.mark.parametrize("space", SPACE_NAMES)
def test_predict_a_photo_with_a_hint_a_video_and_the_demo_in_every_space(tmp_path, space):
    checkpoint = hint_checkpoint(tmp_path, "local", space)  # a tiny cnn whose hint channels have strong weights
    photo = tmp_path / "photo.png"
    Image.fromarray(np.full((40, 56, 3), 128, np.uint8)).save(photo)  # grey: any colour comes from the hint
    hints = tmp_path / "hints.json"
    hints.write_text(json.dumps({"hints": [{"x": 28, "y": 20, "color": BLUE}]}))

    assert predict([str(checkpoint), str(photo), str(tmp_path / "plain.png"), "--device", "cpu"]) == 0
    assert predict([str(checkpoint), str(photo), str(tmp_path / "hinted.png"), "--hints", str(hints), "--device", "cpu"]) == 0
    plain, hinted = (np.asarray(Image.open(tmp_path / f"{name}.png")).astype(int) for name in ("plain", "hinted"))
    assert plain.shape == hinted.shape == (40, 56, 3)
    assert not np.array_equal(plain, hinted) and hinted[20, 28, 2] > hinted[20, 28, 0]  # bluer where the hint is

    clip = tmp_path / "clip.mp4"
    frames = [np.ascontiguousarray(data.astronaut()[100:148, 100 + 2 * i : 164 + 2 * i]) for i in range(4)]
    write_video(clip, frames, 12)
    assert predict([str(checkpoint), str(clip), str(tmp_path / "out"), "--device", "cpu"]) == 0
    assert len(read_frames(tmp_path / "out" / "clip.mp4")) == 4

    shown = [Shown(f"cnn · {space}", load_colorizer(checkpoint, torch.device("cpu")), 32, checkpoint)]
    colour = tmp_path / "colour.png"
    Image.fromarray(random_photo(48, 64)).save(colour)
    results = colorize_photos(
        shown, [colour], 0, tmp_path / "demo", max_pixels=10**8, hints=[{"x": 30, "y": 20, "color": "#1e64ff"}]
    )
    assert results.messages == results.hint_messages == [] and len(results.downloads) == 1
    assert Image.open(results.downloads[0]).size == (64, 48) and results.metrics[0][2] > 0  # ΔE2000 against the photo
