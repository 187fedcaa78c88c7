"""What ``predict`` writes where, decided before torch is imported: one job per photo or video, and the hints file.

INPUT is a photo, a video or a folder of them (searched recursively). OUTPUT is a file when it has an image suffix (a
video's suffix, for a video) and the input is one photo (video); otherwise a folder, where each result keeps the
input's relative path, as PNG (or in the input's own format with ``fmt="same"``). Inputs are never written to. A hints
file (``--hints``) gives points on the one photo of INPUT; it is read and checked here too, so that a path or a hints
file that cannot be used is reported at once, not after the model has loaded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from colorize.errors import UserError
from colorize.images import IMAGE_EXTENSIONS, list_images, upright_size
from colorize.inference.hinting import UserHints, read_hints

VIDEO_EXTENSIONS = frozenset(
    {".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".ts", ".mts", ".m2ts", ".wmv", ".flv", ".ogv", ".3gp"}
)
# A colorized video keeps the input's container if it is mp4, mov or mkv; any other becomes Matroska, which holds any
# audio codec as it came.
KEPT_CONTAINERS = frozenset({".mp4", ".m4v", ".mov", ".mkv"})


class PredictError(UserError, ValueError):
    """Inputs or outputs that cannot be used as given; the message says what to change."""


@dataclass
class PredictJob:
    """One input photo or video, and the files its colorization goes to."""

    source: Path
    target: Path
    side_by_side: Path | None = None  # a photo's grey and colour versions side by side, if asked

    @property
    def targets(self) -> list[Path]:
        return [self.target] + ([self.side_by_side] if self.side_by_side else [])


def is_video_file(path: Path) -> bool:
    return path.suffix.lower() in VIDEO_EXTENSIONS and not path.name.startswith(".")


def list_videos(root: Path) -> list[Path]:
    """Every video file below ``root``, sorted by relative path."""
    return sorted((p for p in root.rglob("*") if p.is_file() and is_video_file(p)), key=lambda p: p.as_posix())


def output_suffix(source: Path) -> str:
    """The colorized video's suffix: the input's container where kept, else Matroska's."""
    suffix = source.suffix.lower()
    return suffix if suffix in KEPT_CONTAINERS else ".mkv"


def names_a_file(output: Path) -> bool:
    """Whether OUTPUT names a file (an image or video suffix, and not an existing folder) rather than a folder."""
    return output.suffix.lower() in IMAGE_EXTENSIONS | VIDEO_EXTENSIONS and not output.is_dir()


def single_job(source: Path, target: Path, side_by_side: bool) -> PredictJob:
    """The job of one photo or video whose output file the user named."""
    photo = not is_video_file(source)
    if (target.suffix.lower() in IMAGE_EXTENSIONS) != photo:
        want = "an image file (.png, .jpg, ...)" if photo else "a video file (.mp4, .mkv, ...)"
        raise PredictError(f"OUTPUT {target} does not fit the input {source.name}: name {want}, or a folder.")
    if target.resolve() == source.resolve():
        raise PredictError(f"OUTPUT {target} is the input itself and would be overwritten. Choose another name.")
    extra = target.with_name(f"{target.stem}-side-by-side{target.suffix}") if side_by_side and photo else None
    return PredictJob(source, target, extra)


def plan_jobs(input_path: Path, output: Path, fmt: str = "png", side_by_side: bool = False) -> list[PredictJob]:
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
            jobs.append(PredictJob(source, target.with_suffix(output_suffix(source))))
            continue
        target = target.with_suffix(source.suffix if fmt == "same" else ".png")
        extra = target.with_name(f"{target.stem}-side-by-side{target.suffix}") if side_by_side else None
        jobs.append(PredictJob(source, target, extra))
    inputs = {p.resolve() for p in sources}
    for job in jobs:
        for target in job.targets:
            if target.resolve() in inputs:
                raise PredictError(f"{target} is an input photo and would be overwritten. Choose another OUTPUT folder.")
    return jobs


def job_hints(jobs: Sequence[PredictJob], hints_file: Path | None = None, reference: Path | None = None) -> UserHints | None:
    """The points of ``--hints`` on the one photo of ``jobs``, read and checked; empty with ``--reference`` alone (it
    serves every photo, and is read once the model is known); None for neither. Hints are for photos, not videos."""
    if hints_file is None and reference is None:
        return None
    videos = [job.source for job in jobs if is_video_file(job.source)]
    if videos:
        given = "--hints" if hints_file is not None else "--reference"
        raise PredictError(f"{given}: colour hints are for photos, and {videos[0]} is a video. Give photos, or drop {given}.")
    if hints_file is None:
        return UserHints()
    if len(jobs) != 1:
        raise PredictError(
            f"--hints {hints_file}: a hints file gives points on one photo, but INPUT holds {len(jobs)} photos. "
            "Give one photo as INPUT (--reference alone may serve a folder)."
        )
    photo_size = upright_size(jobs[0].source)
    return UserHints(tuple(read_hints(hints_file, photo_size)), photo_size)
