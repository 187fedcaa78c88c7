"""Colorizing photo and video files: what to write where, and writing it.

INPUT is a photo, a video or a folder of them (searched recursively). OUTPUT is a file when it has an image suffix (a
video's suffix, for a video) and the input is one photo (video); otherwise a folder, where each result keeps the
input's relative path, as PNG (or in the input's own format with ``fmt="same"``). Photos of any size and format, colour
or grayscale, are read upright (EXIF orientation applied); only their lightness is used. Inputs are never written to;
existing outputs are skipped unless ``overwrite``.
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

from colorize.errors import UserError
from colorize.files import atomic_write_bytes
from colorize.images import IMAGE_EXTENSIONS, ImageReadError, list_images, read_rgb, to_uint8_image, upright_size
from colorize.inference.colorizing import colorize_lightness, network_predictor
from colorize.inference.hinting import UserHints, load_user_hints
from colorize.inference.temporal import ChromaStabilizer
from colorize.inference.video import VIDEO_EXTENSIONS, VideoError, colorize_video, is_video_file, list_videos, output_suffix
from colorize.networks.colorizer import Colorizer

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


def progress_interval() -> float:
    """Seconds between progress-bar updates: frequent on a terminal, rare in a log file."""
    return 0.1 if sys.stderr.isatty() else 30.0


def names_a_file(output: Path) -> bool:
    """Whether OUTPUT names a file (an image or video suffix, and not an existing folder) rather than a folder."""
    return output.suffix.lower() in IMAGE_EXTENSIONS | VIDEO_EXTENSIONS and not output.is_dir()


def single_job(source: Path, target: Path, side_by_side: bool) -> Job:
    """The job of one photo or video whose output file the user named."""
    photo = not is_video_file(source)
    if (target.suffix.lower() in IMAGE_EXTENSIONS) != photo:
        want = "an image file (.png, .jpg, ...)" if photo else "a video file (.mp4, .mkv, ...)"
        raise PredictError(f"OUTPUT {target} does not fit the input {source.name}: name {want}, or a folder.")
    if target.resolve() == source.resolve():
        raise PredictError(f"OUTPUT {target} is the input itself and would be overwritten. Choose another name.")
    extra = target.with_name(f"{target.stem}-side-by-side{target.suffix}") if side_by_side and photo else None
    return Job(source, target, extra)


def plan_jobs(input_path: Path, output: Path, fmt: str = "png", side_by_side: bool = False) -> list[Job]:
    """One job per input photo or video. OUTPUT is a file when it has an image (or video) suffix and the input is one
    photo (or video); otherwise a folder, where the outputs mirror the input tree."""
    if names_a_file(output):
        if input_path.is_dir():
            raise PredictError(f"OUTPUT {output} names a file, but {input_path} is a folder of photos: give a folder as OUTPUT.")
        if not input_path.is_file():
            raise PredictError(f"{input_path}: no such photo, video or folder.")
        return [single_job(input_path, output, side_by_side)]
    output_dir = output
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


def job_hints(
    colorizer: Colorizer, jobs: Sequence[Job], size: int, hints_file: Path | None = None, reference: Path | None = None
) -> UserHints | None:
    """The hints of ``--hints`` (points on the one photo of ``jobs``) and ``--reference`` (for every photo); None for neither."""
    if hints_file is None and reference is None:
        return None
    videos = [job.source for job in jobs if is_video_file(job.source)]
    if videos:
        given = "--hints" if hints_file is not None else "--reference"
        raise PredictError(f"{given}: colour hints are for photos, and {videos[0]} is a video. Give photos, or drop {given}.")
    if hints_file is not None and len(jobs) != 1:
        raise PredictError(
            f"--hints {hints_file}: a hints file gives points on one photo, but INPUT holds {len(jobs)} photos. "
            "Give one photo as INPUT (--reference alone may serve a folder)."
        )
    photo_size = upright_size(jobs[0].source) if hints_file is not None else (1, 1)
    return load_user_hints(colorizer, hints_file, reference, photo_size, size)


def encode_image(image: np.ndarray, suffix: str) -> bytes:
    fmt = Image.registered_extensions().get(suffix.lower(), "PNG")
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format=fmt, **SAVE_OPTIONS.get(fmt, {}))
    return buffer.getvalue()


def colorize_file(colorizer: Colorizer, job: Job, size: int, hints: UserHints | None = None) -> None:
    rgb = read_rgb(job.source).to(colorizer.device).unsqueeze(0)
    space = colorizer.space
    lightness, _ = space.encode(rgb)
    colour = to_uint8_image(colorize_lightness(space, lightness, network_predictor(colorizer, hints), size)[0])
    atomic_write_bytes(job.target, encode_image(colour, job.target.suffix))
    if job.side_by_side is not None:
        grey = to_uint8_image(space.decode_grey(lightness)[0])
        atomic_write_bytes(job.side_by_side, encode_image(np.concatenate([grey, colour], axis=1), job.side_by_side.suffix))


def predict(
    colorizer: Colorizer,
    jobs: Sequence[Job],
    size: int,
    overwrite: bool = False,
    progress: bool = True,
    stabilize: bool = True,
    hints: UserHints | None = None,
) -> PredictReport:
    """Colorize each job; ``hints`` (:func:`job_hints`) go with every photo."""
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
