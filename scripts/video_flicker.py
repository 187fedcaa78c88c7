"""Flicker and ΔE2000 of colorized video, each frame on its own against stabilised, where the true colours are known.

    python scripts/video_flicker.py runs/<run>/checkpoints/last.ckpt [--out docs/results] [--work /tmp/video-flicker]

Makes test clips from scikit-image's colour photos: a slow pan and zoom over one photo, then a cut to a
slow pan over another, clean or with film grain, written as H.264 videos. Colorizes their L with the checkpoint through
``colorize.inference.video.colorize_video``, without and with temporal stabilisation, decodes the results and
compares them with the clips' own colours. Prints a Markdown table, and writes ``video_flicker.json`` and
``video-strip.jpg`` (frames side by side: grey input, each frame on its own, stabilised, true colours)
into ``--out``. Trains nothing.
"""

from __future__ import annotations

import argparse
import json
import textwrap
import time
from pathlib import Path

import cv2
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import torch
from skimage import data

from colorize.inference.loading import load_colorizer, working_size
from colorize.inference.temporal import ChromaStabilizer, chroma_flicker
from colorize.inference.video import colorize_video, read_frames, write_video
from colorize.metrics import delta_e_ciede2000
from colorize.spaces import rgb_to_lab

WIDTH, HEIGHT, RATE = 320, 240, 24
# (name, first shot's photo, frames, second shot's photo, frames, film grain: std of the noise added to L, in uint8 steps)
CLIPS = [
    ("cat-then-coffee", "chelsea", 36, "coffee", 24, 0),
    ("cat-then-coffee, grain", "chelsea", 36, "coffee", 24, 6),
    ("astronaut-then-rocket, grain", "astronaut", 36, "rocket", 24, 6),
]
AFTER_CUT = 3  # frames after a cut whose ΔE2000 shows whether colour was carried across it


def shot(photo: np.ndarray, count: int, pan: float = 1.0, zoom: float = 0.004) -> list[np.ndarray]:
    """A slow pan (``pan`` px a frame, right and down by half that) and zoom in (``zoom`` a frame) over ``photo``."""
    scale0 = min(photo.shape[0] / HEIGHT, photo.shape[1] / WIDTH) * 0.8
    frames = []
    for i in range(count):
        scale = scale0 * (1 - zoom) ** i
        x = (photo.shape[1] - WIDTH * scale0) / 2 + pan * i
        y = (photo.shape[0] - HEIGHT * scale0) / 2 + pan * i / 2
        to_photo = np.float32([[scale, 0, x], [0, scale, y]])
        frames.append(cv2.warpAffine(photo, to_photo, (WIDTH, HEIGHT), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP))
    return frames


class WobblyModel(torch.nn.Module):
    """The checkpoint's model with blotchy noise added to each frame's chroma: a stand-in for a model whose
    guesses change from frame to frame (as larger ones do: DeOldify #343), to see what stabilisation removes."""

    def __init__(self, module: torch.nn.Module, amplitude: float = 0.05, seed: int = 0) -> None:
        super().__init__()
        self.module, self.amplitude = module, amplitude
        self.generator = torch.Generator().manual_seed(seed)

    space = property(lambda self: self.module.space)
    device = property(lambda self: self.module.device)

    def forward(self, lightness: torch.Tensor) -> torch.Tensor:
        chroma = self.module(lightness)
        batch, _, height, width = chroma.shape
        blotches = torch.randn(batch, 2, max(1, height // 16), max(1, width // 16), generator=self.generator)
        noise = torch.nn.functional.interpolate(blotches, size=(height, width), mode="bilinear", align_corners=False)
        return chroma + self.amplitude * noise.to(chroma.device)


def with_grain(frames: list[np.ndarray], sigma: float, seed: int = 0) -> list[np.ndarray]:
    """Film grain: noise that changes every frame, the same on R, G and B (so in lightness, not colour)."""
    rng = np.random.default_rng(seed)
    noisy = [f + rng.normal(0, sigma, f.shape[:2])[..., None] for f in frames] if sigma else frames
    return [np.clip(f, 0, 255).round().astype(np.uint8) for f in noisy]


def as_batch(frames: list[np.ndarray]) -> torch.Tensor:
    return torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2).float() / 255


def mean_delta_e(frames: list[np.ndarray], truth: list[np.ndarray]) -> float:
    return float(delta_e_ciede2000(rgb_to_lab(as_batch(frames)), rgb_to_lab(as_batch(truth))).mean())


def grey(frames: list[np.ndarray]) -> list[np.ndarray]:
    return [np.repeat(cv2.cvtColor(f, cv2.COLOR_RGB2GRAY)[..., None], 3, axis=-1) for f in frames]


def save_strip(path: Path, rows: dict[str, list[np.ndarray]], columns: list[int], cut: int) -> None:
    fig, axes = plt.subplots(len(rows), len(columns), figsize=(2.1 * len(columns), 1.7 * len(rows)), squeeze=False)
    for r, (label, frames) in enumerate(rows.items()):
        for c, index in enumerate(columns):
            ax = axes[r][c]
            ax.imshow(frames[index])
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(f"frame {index}" + (" (cut)" if index == cut else ""), fontsize=9)
            if c == 0:
                ax.set_ylabel(textwrap.fill(label, 20), fontsize=9)
    fig.tight_layout(pad=0.3)
    fig.savefig(path, dpi=110, pil_kwargs={"quality": 90})
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("checkpoint")
    parser.add_argument("--out", type=Path, default=Path("docs/results"))
    parser.add_argument("--work", type=Path, default=Path("/tmp/video-flicker"))
    args = parser.parse_args()
    torch.manual_seed(0)
    module = load_colorizer(args.checkpoint, torch.device("cpu"))
    size = working_size(args.checkpoint)
    args.work.mkdir(parents=True, exist_ok=True)
    args.out.mkdir(parents=True, exist_ok=True)
    wobbly = WobblyModel(module)
    # mode: (model, stabiliser, on which clips)
    modes = {
        "each frame on its own": (module, None, "all"),
        "stabilised (default)": (module, ChromaStabilizer(), "all"),
        "wobbly model, each frame on its own": (wobbly, None, CLIPS[1][0]),
        "wobbly model, stabilised": (wobbly, ChromaStabilizer(), CLIPS[1][0]),
    }

    results = []
    for name, first, first_count, second, second_count, sigma in CLIPS:
        source = args.work / f"{name.replace(', ', '-')}.mp4"
        source.unlink(missing_ok=True)
        frames = shot(getattr(data, first)(), first_count) + shot(getattr(data, second)(), second_count)
        write_video(source, with_grain(frames, sigma), RATE)
        truth = read_frames(source)  # the true colours, as the video holds them
        outputs = {}
        row = {
            "clip": name,
            "frames": len(truth),
            "cut at": first_count,
            "true colours' flicker": chroma_flicker(as_batch(truth)),
        }
        for mode, (model, stabilizer, clips) in modes.items():
            if clips not in ("all", name):
                continue
            target = source.with_name(f"{source.stem}-{mode.replace(', ', '-').replace(' ', '-')}.mp4")
            target.unlink(missing_ok=True)
            start = time.perf_counter()
            colorize_video(model, source, target, size, stabilizer)
            seconds = time.perf_counter() - start
            outputs[mode] = frames = read_frames(target)
            row[mode] = {
                "flicker": chroma_flicker(as_batch(frames)),
                "delta_e": mean_delta_e(frames, truth),
                "delta_e_after_cut": mean_delta_e(
                    frames[first_count : first_count + AFTER_CUT], truth[first_count : first_count + AFTER_CUT]
                ),
                "ms_per_frame": 1000 * seconds / len(frames),
            }
            if stabilizer is not None:
                row[mode]["cuts_detected"] = list(stabilizer.cuts)
        results.append(row)
        if name == CLIPS[1][0]:
            columns = [0, 12, 24, first_count - 1, first_count, len(truth) - 1]
            rows = {"grey input": grey(truth), **outputs, "true colours": truth}
            save_strip(args.out / "video-strip.jpg", rows, columns, first_count)

    (args.out / "video_flicker.json").write_text(json.dumps(results, indent=2) + "\n")
    print("| clip | mode | flicker | ΔE2000 | ΔE2000, 3 frames after the cut | ms/frame |")
    print("|---|---|---|---|---|---|")
    for row in results:
        truth_flicker = row["true colours' flicker"]
        print(f"| {row['clip']} | true colours | {truth_flicker:.2f} | 0 | 0 | |")
        for mode in (mode for mode in modes if mode in row):
            m = row[mode]
            numbers = f"{m['flicker']:.2f} | {m['delta_e']:.2f} | {m['delta_e_after_cut']:.2f} | {m['ms_per_frame']:.0f}"
            print(f"| {row['clip']} | {mode} | {numbers} |")


if __name__ == "__main__":
    main()
