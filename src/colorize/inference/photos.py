"""Colorizing photo and video files: writing what :mod:`colorize.inference.planning` planned.

Photos of any size and format, colour or grayscale, are read upright (EXIF orientation applied); only their lightness is
used. Inputs are never written to; existing outputs are skipped unless ``overwrite``.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from colorize.files import atomic_write_bytes
from colorize.images import ImageReadError, read_rgb, to_uint8_image
from colorize.inference.colorizing import colorize_lightness, network_predictor
from colorize.inference.hinting import UserHints
from colorize.inference.planning import PredictJob, is_video_file
from colorize.inference.temporal import ChromaStabilizer
from colorize.inference.video import VideoError, colorize_video
from colorize.networks.colorizer import Colorizer

# PNG level 3: a third of the default level 6's time, for files about 4% larger.
SAVE_OPTIONS = {"JPEG": {"quality": 95}, "WEBP": {"quality": 95}, "PNG": {"compress_level": 3}}


@dataclass
class PredictReport:
    written: list[Path]
    skipped: list[PredictJob]
    failed: list[str]  # why each unreadable photo failed


def progress_interval() -> float:
    """Seconds between progress-bar updates: frequent on a terminal, rare in a log file."""
    return 0.1 if sys.stderr.isatty() else 30.0


def image_file_bytes(image: np.ndarray, suffix: str) -> bytes:
    """uint8 RGB (H, W, 3) as the bytes of an image file in the format of ``suffix`` (PNG for one Pillow does not know)."""
    fmt = Image.registered_extensions().get(suffix.lower(), "PNG")
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format=fmt, **SAVE_OPTIONS.get(fmt, {}))
    return buffer.getvalue()


def colorize_file(colorizer: Colorizer, job: PredictJob, size: int, hints: UserHints | None = None) -> None:
    rgb = read_rgb(job.source).to(colorizer.device).unsqueeze(0)
    space = colorizer.space
    lightness, _ = space.encode(rgb)
    colour = to_uint8_image(colorize_lightness(space, lightness, network_predictor(colorizer, hints), size)[0])
    atomic_write_bytes(job.target, image_file_bytes(colour, job.target.suffix))
    if job.side_by_side is not None:
        grey = to_uint8_image(space.decode_grey(lightness)[0])
        atomic_write_bytes(job.side_by_side, image_file_bytes(np.concatenate([grey, colour], axis=1), job.side_by_side.suffix))


def predict(
    colorizer: Colorizer,
    jobs: Sequence[PredictJob],
    size: int,
    overwrite: bool = False,
    progress: bool = True,
    stabilize: bool = True,
    hints: UserHints | None = None,
) -> PredictReport:
    """Colorize each job (:func:`colorize.inference.planning.plan_jobs`); ``hints`` go with every photo."""
    report = PredictReport([], [], [])
    for job in tqdm(jobs, unit="file", disable=not progress, mininterval=progress_interval()):
        if not overwrite and all(t.exists() for t in job.targets):
            report.skipped.append(job)
            continue
        try:
            if is_video_file(job.source):
                interval = progress_interval() if progress else None
                stabilizer = ChromaStabilizer() if stabilize else None
                colorize_video(colorizer, job.source, job.target, size, stabilizer, progress=interval)
            else:
                colorize_file(colorizer, job, size, hints)
        except (ImageReadError, VideoError) as e:
            report.failed.append(str(e))
            continue
        report.written.extend(job.targets)
    return report
