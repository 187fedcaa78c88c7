"""Evaluating a checkpoint on a test set: its row and the reference rows (see :mod:`colorize.reports.scoring`), with
LPIPS and FID beside the colour metrics when their weights are installed (``make weights``; each says why otherwise).

Test set: every photo in a folder (searched recursively), or by default the photos that the run held out for
validation. Each photo is scaled so that its shorter side is ``eval_size`` pixels (never enlarged) and colorized as
``predict`` does it. Photos without colour are skipped and named, as unreadable ones are. A model that takes local
hints also gets its hint curve (:mod:`colorize.reports.hint_curves`). Writes ``metrics.json`` (default:
``<run>/evaluation/<checkpoint>-<test set>/``) and ``photo_scores.csv``: every row's score on each photo, on every metric
that has one per photo (:data:`~colorize.reports.fid_lpips.PHOTO_METRICS`), so that any two rows, of this evaluation or
of another on the same test set, can be paired photo by photo. A photo's id is its file's path relative to the test
set's root (the folder given, or the run's validation folder), else its name.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from colorize.data import get_source
from colorize.data.registry import Photos
from colorize.data.sources.folder import FolderImages
from colorize.errors import UserError
from colorize.files import atomic_write_text
from colorize.images import ImageReadError, list_images
from colorize.inference.loading import load_colorizer, resolve_device, temperature_label, working_size
from colorize.metrics import METRIC_LABELS
from colorize.reports import DEFAULT_EVAL_SIZE
from colorize.reports.fid_lpips import PHOTO_METRICS
from colorize.reports.hint_curves import curve_from_scores, hint_rows
from colorize.reports.scoring import Scores, model_row, protocol, reference_rows, score_rows
from colorize.reports.tables import write_csv
from colorize.runs import EVALUATION_DIR, Run
from colorize.spaces import INPUT_CONVENTION

PHOTO_SCORES_CSV = "photo_scores.csv"


class EvaluationError(UserError, ValueError):
    """A test set or output that cannot be used; the message says what to change."""


def load_test_set(checkpoint: str | Path, data: str | None, default_data: Any = None) -> tuple[Photos, dict[str, Any]]:
    """The test photos and a description of them: a folder, or the photos the run held out for validation (for a
    checkpoint outside its run directory, those of ``default_data``, a data config)."""
    if data:
        root = Path(data).expanduser()
        paths = list_images(root) if root.is_dir() else []
        if not paths:
            raise EvaluationError(f"--data {data}: not a folder of photos (jpg, png, webp, bmp, tiff).")
        return FolderImages(paths), {"source": "folder", "path": str(root), "root": str(root)}
    run = Run.of_checkpoint(checkpoint)
    cfg = run.config.data if run is not None else default_data
    if cfg is None:
        raise EvaluationError(
            f"{checkpoint} lies outside its run directory, so its validation photos are unknown: --data FOLDER."
        )
    source = get_source(cfg.source)
    try:
        photos = source.photos(cfg)[1]
    except UserError as e:
        raise EvaluationError(
            f"The run's validation photos cannot be had ({e}). Give a folder of test photos: --data FOLDER."
        ) from None
    test_set = {"source": source.name, "held_out": "the run's validation photos", "identity": source.identity(cfg)}
    root = cfg.get("val_root") or cfg.get("root")  # a source of files: the folder its validation photos are found in
    return photos, test_set | ({"root": str(Path(root).expanduser())} if root else {})


def photo_ids(names: Sequence[str], root: str | None) -> list[str]:
    """Each photo's id, stable across runs and machines: its path relative to ``root`` where it lies below it, else its
    name (e.g. a sample photo's)."""
    base = Path(root).resolve() if root else None
    ids = []
    for name in names:
        try:
            ids.append(Path(name).resolve().relative_to(base).as_posix() if base else name)
        except ValueError:
            ids.append(name)
    return ids


def model_row_name(model: str, space: str) -> str:
    """The model's own row in an evaluation's tables, e.g. "cnn-lab"."""
    return f"{model}-{space}"


def photo_score_rows(ids: Sequence[str], scores: Scores, rows: Sequence[str]) -> list[dict[str, object]]:
    """photo_scores.csv's lines: one per row and photo, with the photo's pixels and a column per metric."""
    metrics = [m for m in PHOTO_METRICS if any(m in scores.photos.get(row, {}) for row in rows)]
    lines = []
    for row in rows:
        values = scores.photos.get(row, {})
        for i, (photo, pixels) in enumerate(zip(ids, scores.pixels, strict=True)):
            lines.append(
                {"row": row, "photo": photo, "pixels": pixels} | {m: values[m][i] if m in values else None for m in metrics}
            )
    return lines


def default_output_dir(checkpoint: str | Path, test_set: dict[str, Any], temperature: float | None = None) -> Path:
    label = Path(test_set["path"]).name if "path" in test_set else test_set["source"]
    run = Run.of_checkpoint(checkpoint)
    name = f"{Path(checkpoint).stem}{temperature_label(temperature)}-{label}"
    return (run.dir / EVALUATION_DIR if run else Path(EVALUATION_DIR)) / name


def format_table(rows: dict[str, dict[str, float]]) -> str:
    metrics = [m for m in METRIC_LABELS if any(m in r for r in rows.values())]
    width = max(len(name) for name in rows) + 2
    lines = ["".ljust(width) + "".join(f"{METRIC_LABELS[m]:>11}" for m in metrics)]
    for name, values in rows.items():
        lines.append(name.ljust(width) + "".join(f"{values[m]:>11.4f}" if m in values else f"{'-':>11}" for m in metrics))
    return "\n".join(lines)


def readable(photos: Photos, names: list[str], unreadable: list[str]) -> Iterator[torch.Tensor]:
    """The photos that can be read, their names appended to ``names``; why the others cannot, to ``unreadable``."""
    for index in range(len(photos)):
        try:
            image = photos.load(index)
        except ImageReadError as e:
            unreadable.append(str(e))
            continue
        names.append(photos.names[index])
        yield image


def progress_interval() -> float:
    """Seconds between progress-bar updates: frequent on a terminal, rare in a log file."""
    return 0.1 if sys.stderr.isatty() else 30.0


def evaluate(
    checkpoint: str | Path,
    data: str | None = None,
    out: str | Path | None = None,
    size: int | None = None,
    eval_size: int = DEFAULT_EVAL_SIZE,
    fid_weights: str | None = None,
    device: str = "auto",
    default_data: Any = None,
    fid: bool = True,
    hint_curve: bool = True,
    say: Callable[[str], None] | None = None,
    temperature: float | None = None,
) -> tuple[dict[str, Any], Path]:
    """Score a checkpoint and the reference rows on a test set; write the report (metrics.json), return it and its path.

    For a model that takes local hints, also its hint curve (``hint_curve`` in the report; see
    :mod:`colorize.reports.hint_curves`), unless ``hint_curve`` is False. ``say`` is told what FID will cost on a CPU
    before it starts. ``temperature``: a classify model decoded at it (the report's ``temperature``); such a report is
    not the checkpoint as trained, so the run's verdicts leave it out (:meth:`colorize.runs.Run.evaluations`)."""
    torch_device = resolve_device(device)
    colorizer = load_colorizer(checkpoint, torch_device, temperature)
    size = working_size(checkpoint, size)
    photos, test_set = load_test_set(checkpoint, data, default_data)
    spec = colorizer.spec
    references = reference_rows(colorizer.space, size)
    rows = {model_row_name(spec.options["name"], spec.space): model_row(colorizer, size), **references}
    names: list[str] = []
    unreadable: list[str] = []
    # delay: a line that score_rows says before the first photo is not broken by the bar
    images = tqdm(readable(photos, names, unreadable), total=len(photos), unit="photo", mininterval=progress_interval(), delay=1)
    curve_rows = hint_rows(colorizer, size) if hint_curve else {}
    scores = score_rows(
        images,
        rows,
        eval_size,
        torch_device,
        fid_weights,
        fid=fid,
        colour_rows=curve_rows,
        count=len(photos),
        references=references,
        say=say,
    )
    grey = scores.skipped
    notes = scores.notes()
    notes += [f"skipped, no colour to score against: {names[i]}" for i in grey]
    notes += [f"skipped, unreadable: {why}" for why in unreadable]
    scored = [name for i, name in enumerate(names) if i not in set(grey)]
    if not scored:
        raise EvaluationError(f"None of the {len(photos)} test photo(s) is a readable colour photo: nothing to score.")
    test_set.update(images=len(scored), skipped=len(photos) - len(scored), names=scored)
    kept = [name for name in rows if name in scores.rows]
    # The hint curve's rows too, so that a gain from hints can be paired photo by photo (compare's hint gains).
    per_photo = kept + [name for name in curve_rows if name in scores.photos]
    ids = photo_ids(scored, test_set.get("root"))
    report = {
        "checkpoint": str(checkpoint),
        "model": spec.options["name"],
        "space": spec.space,
        "init": spec.options.get("init"),
        "input_convention": INPUT_CONVENTION,
        "test_set": test_set,
        "protocol": protocol(f"test photos ({test_set['source']})", len(scored), eval_size, size, crops=False),
        "rows": {name: scores.rows[name] for name in kept},
        # Each row's score on every photo, in the order of the ids (ΔE2000's set value weights each photo by its pixels).
        "photo_scores": {"ids": ids, "pixels": scores.pixels, "rows": {name: scores.photos[name] for name in per_photo}},
        "notes": notes,
    }
    if curve_rows:
        report["hint_curve"] = curve_from_scores(scores.rows)
    if temperature is not None:
        report["temperature"] = temperature
    out_dir = Path(out).expanduser() if out else default_output_dir(checkpoint, test_set, temperature)
    path = out_dir / "metrics.json"
    write_csv(out_dir / PHOTO_SCORES_CSV, photo_score_rows(ids, scores, per_photo))
    atomic_write_text(path, json.dumps(report, indent=2) + "\n")
    return report, path


def photo_evaluations(record: Run, notes: list[str]) -> list[tuple[Path, dict[str, Any]]]:
    """The evaluations of the run's best checkpoint that keep scores photo by photo, newest first."""
    return [(path, report) for path, report in record.evaluations(notes) if "photo_scores" in report]
