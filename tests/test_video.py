"""Colorizing videos: timing, size, audio and L kept; temporal stability; scene cuts; bad files; mixed folders."""

import hashlib
from fractions import Fraction

import av
import numpy as np
import pytest
import torch
from PIL import Image
from skimage import color, data

import colorize.inference.video
from colorize.inference.temporal import ChromaStabilizer, chroma_flicker
from colorize.inference.video import add_video_stream, read_frames, write_video
from colorize.predict import main
from colorize.spaces import get_space
from conftest import random_photo

RATE = Fraction(24000, 1001)  # NTSC's, to catch a rate rounded to an integer


@pytest.fixture(scope="module")
def checkpoint(trained_runs):
    return str(trained_runs / "cnn-lab-seed0" / "checkpoints" / "last.ckpt")


def digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def pan(photo: np.ndarray, count: int, height: int = 48, width: int = 64, step: int = 2) -> list[np.ndarray]:
    """A slow pan: ``count`` crops of ``photo`` moving right by ``step`` px a frame."""
    return [np.ascontiguousarray(photo[100 : 100 + height, 100 + i * step : 100 + i * step + width]) for i in range(count)]


def write_clip_with_audio(path, frames, rate=RATE, sample_rate=16000):
    """An H.264 video with an AAC sine tone as long as the video."""
    with av.open(str(path), "w") as out:
        video = add_video_stream(out, frames[0].shape[1], frames[0].shape[0], rate)
        audio = out.add_stream("aac", rate=sample_rate)
        for image in frames:
            out.mux(video.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        out.mux(video.encode(None))
        t = np.arange(int(sample_rate * len(frames) / rate)) / sample_rate
        tone = av.AudioFrame.from_ndarray(np.sin(2 * np.pi * 440 * t, dtype=np.float32)[None] * 0.3, format="fltp", layout="mono")
        tone.sample_rate, tone.pts = sample_rate, 0
        out.mux(audio.encode(tone))
        out.mux(audio.encode(None))


def audio_packets(path) -> list[bytes]:
    with av.open(str(path)) as container:
        return [bytes(p) for p in container.demux(audio=0) if p.size]


def lightness(frames) -> np.ndarray:
    return color.rgb2lab(np.stack(frames))[..., 0]


def test_timing_size_audio_and_lightness_are_kept(tmp_path, checkpoint):
    source = tmp_path / "film.mp4"
    write_clip_with_audio(source, pan(data.astronaut(), 11))
    before = digest(source)
    assert main([checkpoint, str(source), str(tmp_path / "out"), "--device", "cpu"]) == 0

    target = tmp_path / "out" / "film.mp4"
    with av.open(str(source)) as a, av.open(str(target)) as b:
        va, vb = a.streams.video[0], b.streams.video[0]
        assert vb.average_rate == va.average_rate == RATE
        assert (vb.codec_context.width, vb.codec_context.height) == (64, 48)
        assert [f.pts * f.time_base for f in a.decode(va)] == [f.pts * f.time_base for f in b.decode(vb)]
        assert abs(float(vb.duration * vb.time_base) - float(va.duration * va.time_base)) < 1 / 24
        assert b.streams.audio[0].codec_context.name == "aac"
    assert audio_packets(target) == audio_packets(source)  # copied, not re-encoded

    original, colour = read_frames(source), read_frames(target)
    assert len(colour) == len(original) == 11
    # L is the input's, up to H.264 at CRF 18 on 4:2:0 chroma; the colours are the model's.
    difference = np.abs(lightness(colour) - lightness(original))
    assert difference.mean() < 1.0 and np.percentile(difference, 99) < 4.0
    assert np.abs(np.stack(colour).astype(int) - np.stack(original)).mean() > 3
    assert digest(source) == before
    assert sorted(p.name for p in target.parent.iterdir()) == ["film.mp4"]  # no temporary file left


def test_a_static_clip_does_not_flicker_when_stabilised(tmp_path, checkpoint, monkeypatch):
    # A still shot with film grain, colorized by a model whose guesses wobble from frame to frame
    # (the tiny test model's own guesses barely depend on its input).
    rng = np.random.default_rng(0)
    still = pan(data.coffee(), 1, 64, 96)[0].astype(float)
    frames = [np.clip(still + rng.normal(0, 3, still.shape), 0, 255).astype(np.uint8) for _ in range(12)]
    write_video(tmp_path / "still.mkv", frames, 24)
    network = colorize.inference.video.network_predictor
    noise = torch.Generator().manual_seed(0)
    wobbly = lambda module: lambda lightness: network(module)(lightness) + 0.03 * torch.randn(lightness.shape, generator=noise)
    monkeypatch.setattr(colorize.inference.video, "network_predictor", wobbly)

    flicker = {}
    for mode in ("stable", "per-frame"):
        args = [] if mode == "stable" else ["--no-stabilize"]
        assert main([checkpoint, str(tmp_path / "still.mkv"), str(tmp_path / mode), *args]) == 0
        out = torch.from_numpy(np.stack(read_frames(tmp_path / mode / "still.mkv"))).permute(0, 3, 1, 2) / 255
        flicker[mode] = chroma_flicker(out)
    assert flicker["per-frame"] > 1.0  # Lab chroma units: visible flicker
    assert flicker["stable"] < 0.5  # below what the eye tells apart
    assert flicker["stable"] < flicker["per-frame"] / 3


def test_a_scene_cut_carries_no_colour_across():
    # Two shots of a slow pan each; the model "predicts" one colour for the first shot and another for the second.
    space = get_space("lab")
    first, second = pan(data.astronaut(), 5), pan(data.coffee(), 5)
    lightness, _ = space.encode(torch.from_numpy(np.stack(first + second)).permute(0, 3, 1, 2))
    predicted = torch.zeros(10, 2, 48, 64)
    predicted[:5], predicted[5:] = 0.5, -0.5

    stabilizer = ChromaStabilizer()
    stable = torch.cat([stabilizer(lightness[i : i + 3], predicted[i : i + 3]) for i in range(0, 10, 3)])
    assert stabilizer.cuts == [5]
    torch.testing.assert_close(stable[5:], predicted[5:])  # the second shot starts afresh
    torch.testing.assert_close(stable[:5], predicted[:5])  # and a constant colour stays constant

    blind = ChromaStabilizer(cut_threshold=1.0)  # a stabiliser that never sees the cut would carry it
    assert (blind(lightness, predicted)[5] - predicted[5]).abs().max() > 0.1


def test_stabilisation_follows_motion_and_damps_noise():
    space = get_space("lab")
    lightness, _ = space.encode(torch.from_numpy(np.stack(pan(data.astronaut(), 8))).permute(0, 3, 1, 2))
    noisy = 0.2 * torch.randn(8, 2, 48, 64, generator=torch.Generator().manual_seed(0))
    stabilizer = ChromaStabilizer()
    stable = stabilizer(lightness, noisy)
    assert stabilizer.cuts == []  # a pan is not a cut
    change = lambda chroma: (chroma[1:] - chroma[:-1]).abs().mean()
    assert change(stable) < change(noisy) / 3


def test_corrupt_truncated_and_audio_only_files_are_named(tmp_path, checkpoint, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    write_video(folder / "whole.mkv", pan(data.astronaut(), 30), 24)
    whole = (folder / "whole.mkv").read_bytes()
    (folder / "cut.mkv").write_bytes(whole[: len(whole) * 8 // 10])
    (folder / "noise.mp4").write_bytes(np.random.default_rng(0).bytes(4000))
    with av.open(str(folder / "sound.mp4"), "w") as out:  # an audio track alone
        stream = out.add_stream("aac", rate=16000)
        tone = av.AudioFrame.from_ndarray(np.zeros((1, 16000), np.float32), format="fltp", layout="mono")
        tone.sample_rate, tone.pts = 16000, 0
        out.mux(stream.encode(tone))
        out.mux(stream.encode(None))
    inputs = {p: digest(p) for p in folder.iterdir()}

    assert main([checkpoint, str(folder), str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    failures = [line for line in err.splitlines() if line.startswith("failed: ")]
    lines = {name: next(line for line in failures if name in line) for name in ("cut.mkv", "noise.mp4", "sound.mp4")}
    assert "truncated" in lines["cut.mkv"] and " frame(s) decoded" in lines["cut.mkv"]
    decoded = int(lines["cut.mkv"].split("truncated: ")[1].split(" frame")[0])
    assert 0 < decoded < 30
    assert "0 frames decoded" in lines["noise.mp4"]
    assert "no video stream" in lines["sound.mp4"] and "audio" in lines["sound.mp4"]
    assert "Traceback" not in err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["whole.mkv"]
    assert {p: digest(p) for p in folder.iterdir()} == inputs


def test_an_interrupted_video_leaves_nothing_that_looks_complete(tmp_path, checkpoint, monkeypatch):
    write_video(tmp_path / "film.mp4", pan(data.astronaut(), 20), 24)
    real = colorize.inference.video.colorize_frames
    batches = []

    def interrupted(*args):
        batches.append(1)
        if len(batches) == 2:
            raise KeyboardInterrupt
        return real(*args)

    monkeypatch.setattr(colorize.inference.video, "colorize_frames", interrupted)
    with pytest.raises(KeyboardInterrupt):
        main([checkpoint, str(tmp_path / "film.mp4"), str(tmp_path / "out")])
    assert list((tmp_path / "out").iterdir()) == []


def test_a_folder_of_videos_and_photos(tmp_path, checkpoint):
    folder = tmp_path / "in"
    (folder / "reel").mkdir(parents=True)
    Image.fromarray(random_photo(40, 56, seed=1)).save(folder / "portrait.jpg")
    Image.fromarray(random_photo(30, 30, seed=2)).save(folder / "reel" / "still.png")
    write_video(folder / "reel" / "clip.mp4", pan(data.astronaut(), 6), 12)
    write_video(folder / "old.avi", pan(data.coffee(), 4), 25)  # not a kept container: becomes Matroska

    assert main([checkpoint, str(folder), str(tmp_path / "out")]) == 0
    written = sorted(p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*") if p.is_file())
    assert written == ["old.mkv", "portrait.png", "reel/clip.mp4", "reel/still.png"]
    assert len(read_frames(tmp_path / "out" / "reel" / "clip.mp4")) == 6
    assert len(read_frames(tmp_path / "out" / "old.mkv")) == 4
    assert Image.open(tmp_path / "out" / "portrait.png").size == (56, 40)
