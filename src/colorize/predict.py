"""Colorize your own photos and videos: ``python -m colorize.predict CKPT INPUT OUTPUT [--side-by-side]``.

INPUT is a photo, a video or a folder of them (searched recursively); OUTPUT is a folder, where each
result keeps the input's relative path, as PNG (or in the input's own format with ``--format same``).
Photos of any size and format, colour or grayscale, are read upright (EXIF orientation applied); only
their lightness is used. Videos go to :mod:`colorize.video`. Inputs are never written to; existing
outputs are skipped, and said so, unless ``--overwrite`` is given.
"""

from __future__ import annotations

import argparse
import io
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from colorize.callbacks import to_uint8_image
from colorize.data import list_images
from colorize.errors import UserError
from colorize.files import atomic_write_bytes
from colorize.images import ImageReadError, read_rgb
from colorize.inference import colorize_lightness, network_predictor
from colorize.models import ColorizerModule, load_colorizer
from colorize.runs import saved_config
from colorize.temporal import ChromaStabilizer
from colorize.video import VideoError, colorize_video, is_video_file, list_videos, output_suffix

# The working size when a checkpoint lies outside its run directory, so its crop size is unknown.
FALLBACK_SIZE = 256
# PNG level 3: a third of the default level 6's time, for files about 4% larger.
SAVE_OPTIONS = {"JPEG": {"quality": 95}, "WEBP": {"quality": 95}, "PNG": {"compress_level": 3}}


class PredictError(UserError, ValueError):
    """Inputs or outputs that cannot be used as given; the message says what to change."""


@dataclass
class Job:
    source: Path
    target: Path
    side_by_side: Path | None = None

    @property
    def targets(self) -> list[Path]:
        return [self.target] + ([self.side_by_side] if self.side_by_side else [])


@dataclass
class PredictReport:
    written: list[Path]
    skipped: list[Job]
    failed: list[str]  # why each unreadable photo failed


def working_size(checkpoint: str | Path, size: int | None = None) -> int:
    """``size`` if given, else the crop size the checkpoint's run trained on, else FALLBACK_SIZE."""
    if size is not None:
        return size
    cfg = saved_config(checkpoint)
    return int(cfg.data.crop_size) if cfg is not None else FALLBACK_SIZE


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise PredictError(f"--device {name}: no CUDA GPU is available here. Use --device cpu.")
    return torch.device(name)


def progress_interval() -> float:
    """Seconds between progress-bar updates: frequent on a terminal, rare in a log file."""
    return 0.1 if sys.stderr.isatty() else 30.0


def load_for_inference(checkpoint: str | Path, device: torch.device) -> ColorizerModule:
    return load_colorizer(checkpoint, map_location=device).to(device)


def plan_jobs(input_path: Path, output_dir: Path, fmt: str = "png", side_by_side: bool = False) -> list[Job]:
    """One job per input photo or video, its outputs mirroring the input tree under ``output_dir``."""
    if input_path.is_file():
        sources, base = [input_path], input_path.parent
    elif input_path.is_dir():
        if output_dir.resolve() == input_path.resolve():
            raise PredictError(
                f"OUTPUT is the input folder {input_path}: its photos would be overwritten. Choose another folder."
            )
        inside_output = output_dir.resolve()  # outputs of an earlier run inside the input folder are not inputs
        media = sorted(list_images(input_path) + list_videos(input_path), key=lambda p: p.as_posix())
        sources = [p for p in media if not p.resolve().is_relative_to(inside_output)]
        base = input_path
    else:
        raise PredictError(f"{input_path}: no such photo, video or folder.")
    if not sources:
        raise PredictError(f"{input_path} holds no photos or videos (looked for jpg, png, webp, bmp, tiff, mp4, mkv, mov, ...).")
    jobs = []
    for source in sources:
        target = output_dir / source.relative_to(base)
        if is_video_file(source):
            jobs.append(Job(source, target.with_suffix(output_suffix(source))))
            continue
        target = target.with_suffix(source.suffix if fmt == "same" else ".png")
        extra = target.with_name(f"{target.stem}-side-by-side{target.suffix}") if side_by_side else None
        jobs.append(Job(source, target, extra))
    inputs = {p.resolve() for p in sources}
    for job in jobs:
        for target in job.targets:
            if target.resolve() in inputs:
                raise PredictError(f"{target} is an input photo and would be overwritten. Choose another OUTPUT folder.")
    return jobs


def encode_image(image: np.ndarray, suffix: str) -> bytes:
    fmt = Image.registered_extensions().get(suffix.lower(), "PNG")
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format=fmt, **SAVE_OPTIONS.get(fmt, {}))
    return buffer.getvalue()


def colorize_file(module: ColorizerModule, job: Job, size: int) -> None:
    rgb = read_rgb(job.source).to(module.device).unsqueeze(0)
    space = module.space
    lightness, _ = space.encode(rgb)
    colour = to_uint8_image(colorize_lightness(space, lightness, network_predictor(module), size)[0])
    atomic_write_bytes(job.target, encode_image(colour, job.target.suffix))
    if job.side_by_side is not None:
        grey = to_uint8_image(space.decode_grey(lightness)[0])
        atomic_write_bytes(job.side_by_side, encode_image(np.concatenate([grey, colour], axis=1), job.side_by_side.suffix))


def predict(
    module: ColorizerModule,
    jobs: Sequence[Job],
    size: int,
    overwrite: bool = False,
    progress: bool = True,
    stabilize: bool = True,
) -> PredictReport:
    report = PredictReport([], [], [])
    for job in tqdm(jobs, unit="file", disable=not progress, mininterval=progress_interval()):
        if not overwrite and all(t.exists() for t in job.targets):
            report.skipped.append(job)
            continue
        try:
            if is_video_file(job.source):
                interval = progress_interval() if progress else None
                stabilizer = ChromaStabilizer() if stabilize else None
                colorize_video(module, job.source, job.target, size, stabilizer, progress=interval)
            else:
                colorize_file(module, job, size)
        except (ImageReadError, VideoError) as e:
            report.failed.append(str(e))
            continue
        report.written.extend(job.targets)
    return report


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m colorize.predict", description=__doc__.split("\n")[0])
    parser.add_argument("checkpoint", help="a colorize checkpoint, e.g. runs/<run>/checkpoints/best-*.ckpt")
    parser.add_argument("input", help="a photo, a video, or a folder of them (searched recursively)")
    parser.add_argument("output", help="the folder to write the colorized photos and videos to")
    parser.add_argument(
        "--size",
        type=int,
        help=f"shorter side, in pixels, at which chroma is predicted (default: the run's crop size, else {FALLBACK_SIZE})",
    )
    parser.add_argument(
        "--side-by-side", action="store_true", help="also write the grey and colour versions of photos side by side"
    )
    parser.add_argument("--format", choices=("png", "same"), default="png", help="photos: png, or the input's own format")
    parser.add_argument(
        "--no-stabilize",
        dest="stabilize",
        action="store_false",
        help="videos: colorize each frame on its own, without temporal stabilisation (flickers)",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace outputs that already exist (never inputs)")
    parser.add_argument("--device", default="auto", help="auto (a GPU if there is one), cpu, cuda, cuda:1, ...")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        jobs = plan_jobs(Path(args.input).expanduser(), Path(args.output).expanduser(), args.format, args.side_by_side)
        device = resolve_device(args.device)
        module = load_for_inference(args.checkpoint, device)
        size = working_size(args.checkpoint, args.size)
        report = predict(module, jobs, size, overwrite=args.overwrite, stabilize=args.stabilize)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"colorized {len(jobs) - len(report.skipped) - len(report.failed)} file(s) into {args.output} (chroma at {size} px)")
    if report.skipped:
        print(f"skipped {len(report.skipped)} file(s) whose outputs already exist (--overwrite replaces them)")
    for reason in report.failed:
        print(f"failed: {reason}", file=sys.stderr)
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
