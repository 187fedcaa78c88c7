"""Comparing runs: a report of every run below a folder, read from disk (no W&B server needed).

Writes to the report folder:

  report.md         the table (one row per model x space: mean ± std over seeds, runs, initial
                    weights), the grey baseline and round-trip rows, the verdict (which space for each
                    family, which family in each space: paired differences with intervals, the
                    probability of improvement, Holm; see :mod:`colorize.reports.verdict`), warnings
                    about settings that differ between runs, and the figures
  table.csv         the same table; runs.csv, one row per run
  verdict.csv       every comparison of the verdict; verdict.json, the same with the scores per photo it used
  photo_scores.csv  each run's (and reference row's) score on each photo: the verdict's, and compare's own on the
                    validation crops
  curves/*.png      learning curves, one plot per metric, one line per run, coloured by cell
  bars/*.png        one bar chart per metric, with the grey baseline marked
  image_sheet.png   the same validation crops colorized by every cell, beside the grey input and
                    the ground truth
  hint_curves.png   for models that take local hints and were evaluated (``python -m colorize.evaluate``, its
                    default folder): PSNR, ΔE2000 and ΔCF against the number of hints, a line per cell,
                    with Zhang et al.'s published points; hint_curves.csv, the same numbers; hint_gains.csv,
                    what 10 hints change against none, paired by seed and photo, with intervals
  hint_sheet.png    for those models: the first validation crop (or a photo given, scaled as evaluate scales it)
                    with 0, 1, 5 and 20 hints, the hints framed, a row per model x space

A run's numbers are its final metrics: the validation metrics of the evaluation at which its best
checkpoint was chosen (see :mod:`colorize.runs`). The reference rows (see
:mod:`colorize.reports.scoring`) and the image sheet use the validation crops the runs were scored on, rebuilt from
the first run's data config. Every report states the input convention (:data:`colorize.spaces.INPUT_CONVENTION`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig
from torch import Tensor

from colorize.data import get_source
from colorize.errors import UserError
from colorize.files import atomic_write_text
from colorize.images import read_rgb
from colorize.inference.colorizing import resize
from colorize.inference.loading import load_colorizer, resolve_device, working_size
from colorize.networks.colorizer import Colorizer
from colorize.portable import working_shape
from colorize.reports import DEFAULT_EVAL_SIZE
from colorize.reports.figures import image_sheet, plot_bars, plot_curves, plot_hint_curves
from colorize.reports.hint_curves import CURVE_CAPTION, SHEET_HINT_COUNTS, hint_columns, takes_local_hints
from colorize.reports.scoring import Row, as_written, model_row, protocol, reference_rows, score_rows
from colorize.reports.tables import (
    HINT_GAIN_COUNT,
    HintGains,
    RunGroup,
    cell_hint_curves,
    cell_hint_gains,
    config_differences,
    group_cells,
    hint_curve_markdown,
    hint_curve_rows,
    hint_gain_markdown,
    hint_gain_rows,
    markdown_table,
    runs_rows,
    table_metrics,
    table_rows,
    write_csv,
)
from colorize.reports.verdict import PhotoScores, Verdict, evaluated_scores, judge, verdict_markdown
from colorize.runs import NEWEST, Run, find_runs
from colorize.spaces import INPUT_CONVENTION, METRIC_SPACE
from colorize.training.loggers import wandb_mode, wandb_problem, wandb_settings


class CompareError(UserError, ValueError):
    """Runs that cannot be compared; the message says what is missing."""


@dataclass
class Comparison:
    out: Path
    cells: list[RunGroup]
    metrics: list[str]
    references: dict[str, dict[str, float]]
    rows: list[dict]
    protocol: dict[str, Any] | None  # what the reference rows were scored on
    notes: list[str] = field(default_factory=list)
    figures: list[Path] = field(default_factory=list)
    hint_curves: list[tuple[RunGroup, dict]] = field(default_factory=list)  # each evaluated hint model's mean curve
    hint_figures: list[Path] = field(default_factory=list)
    hint_gains: HintGains = field(default_factory=list)  # what HINT_GAIN_COUNT hints change, with intervals
    crop_scores: PhotoScores | None = None  # compare's own scores of each run on each validation crop
    verdict: Verdict | None = None


def validation_crops(cfg: DictConfig) -> Tensor:
    """The uint8 validation crops a run with this config was scored on (honouring trainer.limit_val_batches)."""
    val_set = get_source(cfg.data.source).datasets(cfg.data, cfg.seed)[1]
    batch_size = cfg.data.batch_size
    batches = math.ceil(len(val_set) / batch_size)
    limit = cfg.trainer.fast_dev_run or cfg.trainer.limit_val_batches
    if isinstance(limit, bool):
        batches = 1
    elif isinstance(limit, int):
        batches = min(batches, limit)
    elif isinstance(limit, float):
        batches = int(batches * limit)
    return torch.stack([val_set[i][0] for i in range(min(len(val_set), batches * batch_size))])  # items: (crop, unreadable)


def sheet_columns(cells: Sequence[RunGroup], crops: Tensor, device: torch.device, notes: list[str]) -> list[tuple[str, Tensor]]:
    """grey input | each cell's best checkpoint (its lowest seed) | ground truth, on the same crops."""
    rgb = crops.to(device).float() / 255.0
    lightness, _ = METRIC_SPACE.encode(rgb)
    columns = [("grey input", METRIC_SPACE.decode_grey(lightness))]
    for title, colorizer, _ in sheet_colorizers(cells, device, notes, "image sheet"):
        columns.append((title, model_row(colorizer, 0)(rgb)))
    columns.append(("ground truth", rgb))
    return [(title, images.cpu()) for title, images in columns]


def sheet_colorizers(
    cells: Sequence[RunGroup], device: torch.device, notes: list[str], sheet: str
) -> Iterator[tuple[str, Colorizer, Path]]:
    """Each cell's column title, the colorizer of its sheet run's best checkpoint, and that checkpoint; a note for each
    that is missing."""
    for cell in cells:
        run = cell.sheet_run()
        checkpoint = run.best_checkpoint
        if checkpoint is None:
            notes.append(f"{cell.name}: run {run.name} has no checkpoint, so it is missing from the {sheet}.")
            continue
        try:
            colorizer = load_colorizer(checkpoint, device)
        except UserError as e:
            notes.append(f"{cell.name}: cannot load {checkpoint}, so it is missing from the {sheet}: {e}")
            continue
        yield f"{cell.name}\n(seed {run.seed})", colorizer, checkpoint


def hint_sheet_photo(photo: str | Path, device: torch.device) -> Tensor:
    """A photo for the hint sheet, (1, 3, H, W) in [0, 1], scaled as evaluate scales a test photo."""
    image = read_rgb(photo).to(device).unsqueeze(0).float() / 255.0
    return as_written(resize(image, working_shape(*image.shape[-2:], DEFAULT_EVAL_SIZE)))


def hint_sheet(
    cells: Sequence[RunGroup], rgb: Tensor, device: torch.device, notes: list[str], path: Path, photo: bool = False
) -> Path | None:
    """``rgb`` (1, 3, H, W) in [0, 1] with 0, 1, 5 and 20 hints, a row per cell whose model takes local hints (its best
    checkpoint of the lowest seed): chroma predicted at the size of a validation crop, or for a ``photo`` at each run's
    working size, as predict does it. None when no cell's model takes local hints."""
    rows: list[tuple[str, list[tuple[str, Tensor]]]] = []
    hinted = [cell for cell in cells if takes_local_hints(cell.sheet_run())]
    for title, colorizer, checkpoint in sheet_colorizers(hinted, device, notes, "hint sheet"):
        rows.append((title, hint_columns(colorizer, rgb, working_size(checkpoint) if photo else 0, SHEET_HINT_COUNTS)))
    if not rows:
        return None
    columns = [(title, torch.cat([row[i][1] for _, row in rows])) for i, (title, _) in enumerate(rows[0][1])]
    return image_sheet(columns, path, [name for name, _ in rows])


def finite(row: dict[str, Any]) -> dict[str, Any]:
    """The row with a value that is not finite (an infinite budget factor) as None, for JSON and W&B."""
    return {k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in row.items()}


def wandb_table(rows: Sequence[dict]):  # -> wandb.Table
    """Rows as a wandb.Table, values that are not finite as None."""
    import wandb

    columns = list(rows[0])
    return wandb.Table(columns=columns, data=[list(finite(row).values()) for row in rows])


def log_to_wandb(records: Sequence[Run], rows: Sequence[dict], out: Path, verdict: Sequence[dict] = ()) -> str:
    """Log the table, and the verdict's comparisons, as wandb.Tables in a run of their own (job_type=compare; offline
    when no API key is configured).

    Returns a note for the report: where it went, or why W&B could not take it (the files are written anyway).
    """
    import wandb

    first = records[0].config
    mode = wandb_mode(first.logger)
    try:
        run = wandb.init(
            project=first.logger.project,
            entity=first.logger.entity,
            job_type="compare",
            name=f"compare-{out.name}",
            dir=str(out),
            mode=mode,
            config={"runs": [r.name for r in records], "input_convention": INPUT_CONVENTION},
            settings=wandb_settings(first.logger),
        )
    except Exception as e:  # unreachable server, bad key...: the report on disk is what matters
        return f"{wandb_problem(e)} The table was not logged there; the report is in {out}."
    run.log({"comparison": wandb_table(rows)} | ({"verdict": wandb_table(verdict)} if verdict else {}))
    run.finish()
    return f"The table{' and the verdict' if verdict else ''} were logged to W&B ({mode})."


def reference_protocol(scored: dict[str, Any] | None) -> list[str]:
    if scored is None:
        return []
    return [
        f"Reference rows: {scored['count']} {scored['images']} of {scored['crop_size']} px, {scored['pixels']} Outputs as "
        f"{scored['outputs']}. LPIPS and FID, which training does not log, are those of each run's best checkpoint on "
        f"the same crops; FID compares {scored['count']} images with {scored['count']}, far fewer than the few thousand "
        "below which it is biased upwards: compare FIDs within this table only.",
        "",
    ]


def chosen_by(monitor: str) -> str:
    return "the newest: `monitor=last`" if monitor == NEWEST else f"best `{monitor}`"


def write_markdown(comparison: Comparison, records: Sequence[Run], warnings: list[str], monitor: str) -> Path:
    out = comparison.out
    lines = [
        "# Comparison",
        "",
        f"{len(records)} run(s) in {len(comparison.cells)} cell(s). Each cell's numbers are the mean ± sample standard "
        "deviation over its runs (seeds) of each run's final metrics: the validation metrics of the evaluation at which "
        f"its best checkpoint was chosen ({chosen_by(monitor)}). All metrics are computed on RGB decoded from the prediction, "
        "whatever the training space. The reference rows are computed on the same validation crops: *grey* is L with zero "
        "chroma; a *round trip* is the true chroma encoded in that space and decoded again (the ceiling of that space), "
        "left out where it returns every crop exactly (see the warnings).",
        "",
        f"Input: in every space {INPUT_CONVENTION}.",
        "",
        *reference_protocol(comparison.protocol),
        markdown_table(comparison.cells, comparison.metrics, comparison.references),
        "",
        "## Verdict",
        "",
        *verdict_markdown(comparison.verdict or Verdict(None, None, {}, [])),
    ]
    if comparison.hint_curves or comparison.hint_figures:
        lines += ["## Colour hints", ""]
    if comparison.hint_curves:
        lines += [
            "How each model takes local hints: the colour metrics against the number of hints, from "
            "`python -m colorize.evaluate` of each run's best checkpoint, mean over the runs that have one (also "
            f"`hint_curves.csv`). {CURVE_CAPTION}",
            "",
            hint_curve_markdown(comparison.hint_curves),
            "",
        ]
    if comparison.hint_gains:
        lines += [
            f"What {HINT_GAIN_COUNT} hints change against none, paired by seed and photo: the mean difference and its 95% "
            "interval from a bootstrap over seeds and photos (also `hint_gains.csv`).",
            "",
            hint_gain_markdown(comparison.hint_gains),
            "",
        ]
    for path in comparison.hint_figures:
        rel = path.relative_to(out).as_posix()
        lines += [f"![{rel}]({rel})", ""]
    if warnings or comparison.notes:
        lines += ["## Warnings", "", *(f"- {w}" for w in warnings + comparison.notes), ""]
    lines += ["## Figures", ""]
    for path in comparison.figures:
        rel = path.relative_to(out).as_posix()
        lines += [f"![{rel}]({rel})", ""]
    path = out / "report.md"
    atomic_write_text(path, "\n".join(lines).rstrip() + "\n")
    return path


def run_row(record: Run) -> str:
    return f"run {record.name}"  # never the name of a reference row


def best_checkpoint_rows(records: Sequence[Run], device: torch.device, notes: list[str]) -> dict[str, Row]:
    """Each run's best checkpoint as a row (chroma at each crop's own size, as training scored it); a note for each
    that cannot be loaded."""
    rows = {}
    for record in records:
        checkpoint = record.best_checkpoint
        if checkpoint is None:
            continue
        try:
            rows[run_row(record)] = model_row(load_colorizer(checkpoint, device), 0)
        except UserError as e:
            notes.append(f"{record.name}: cannot load {checkpoint} to score LPIPS and FID: {e}")
    return rows


def score_references(
    records: Sequence[Run],
    crops: Tensor,
    device: torch.device,
    fid: bool,
    notes: list[str],
    say: Callable[[str], None] | None,
) -> tuple[dict[str, dict[str, float]], dict[str, Any], PhotoScores]:
    """The reference rows on the validation crops, and into each ``record.scored`` LPIPS and FID (which training does
    not log) of its best checkpoint, in one pass that computes FID's features of the crops once; why anything is left
    out, into ``notes``. Returns the reference rows, what they were scored on, and every run's and reference row's
    score on each crop (a crop's id: its index among the validation crops)."""
    # The runs were scored on the crops as they are, chroma at the crop size: so are the reference rows.
    references = reference_rows(METRIC_SPACE, size=0)
    runs = best_checkpoint_rows(records, device, notes)
    scores = score_rows(
        iter(crops), references | runs, eval_size=0, device=device, fid=fid, count=len(crops), references=references, say=say
    )
    for record in records:
        values = scores.rows.get(run_row(record), {})
        record.scored = {k: v for k, v in values.items() if k in ("lpips", "fid", "fid_images")}
    notes += [note for note in scores.notes() if note not in notes]
    if scores.skipped:
        notes.append(f"{len(scores.skipped)} validation crop(s) have no colour and are left out of the reference rows.")
    scored = protocol("validation crops of the first run's data", len(crops) - len(scores.skipped), 0, 0, crops=True)
    scored["crop_size"] = int(crops.shape[-1])
    skipped = set(scores.skipped)
    per_crop = PhotoScores(
        "crops",
        f"each run's best checkpoint scored by compare on the {scored['count']} validation crops of "
        f"{scored['crop_size']} px of the first run's data, as training scored the runs",
        [f"crop-{i}" for i in range(len(crops)) if i not in skipped],
        scores.pixels,
        {record.name: scores.photos[run_row(record)] for record in records if run_row(record) in scores.photos},
        {name: scores.photos[name] for name in references if name in scores.photos},
    )
    return {name: scores.rows[name] for name in references if name in scores.rows}, scored, per_crop


def compare(
    runs_dir: str | Path,
    out: str | Path,
    sheet_images: int = 6,
    device: str = "auto",
    log_wandb: bool = False,
    fid: bool = True,
    hint_photo: str | Path | None = None,
    say: Callable[[str], None] | None = None,
) -> Comparison:
    """The report on every run below ``runs_dir``, written to ``out``; ``hint_photo``: the photo of the hint sheet
    (default: the first validation crop); ``say`` is told what FID will cost on a CPU before it starts."""
    records = find_runs(runs_dir)
    if not records:
        raise CompareError(f"No run directories (with config.yaml and metrics.csv) below {runs_dir}.")
    notes = [
        f"{r.name} has no validation metrics (logger=none, or it never validated): left out."
        for r in records
        if not r.final_metrics()
    ]
    records = [r for r in records if r.final_metrics()]
    if not records:
        raise CompareError(f"None of the runs below {runs_dir} has validation metrics in a metrics.csv.")
    out = Path(out).expanduser()
    torch_device = resolve_device(device)
    photo = hint_sheet_photo(hint_photo, torch_device) if hint_photo else None  # an unreadable photo fails here, early

    references: dict[str, dict[str, float]] = {}
    crops = None
    try:
        crops = validation_crops(records[0].config)
    except UserError as e:
        notes.append(f"The validation data cannot be loaded, so there are no reference rows and no image sheet: {e}")
    scored = per_crop = None
    if crops is not None:
        references, scored, per_crop = score_references(records, crops, torch_device, fid, notes, say)
    cells = group_cells(records)
    metrics = table_metrics(cells)
    comparison = Comparison(out, cells, metrics, references, table_rows(cells, metrics, references), scored, notes)
    comparison.crop_scores = per_crop
    comparison.verdict = judge(cells, evaluated_scores(records, notes) or per_crop)

    write_csv(out / "table.csv", comparison.rows)
    write_csv(out / "runs.csv", runs_rows(records))
    write_verdict(comparison, records)
    comparison.figures += plot_bars(cells, metrics, references.get("grey"), out / "bars")
    if crops is not None:
        columns = sheet_columns(cells, crops[:sheet_images], torch_device, notes)
        comparison.figures.append(image_sheet(columns, out / "image_sheet.png"))
    comparison.figures += plot_curves(cells, out / "curves")
    comparison.hint_curves = cell_hint_curves(cells, notes)
    if comparison.hint_curves:
        write_csv(out / "hint_curves.csv", hint_curve_rows(comparison.hint_curves))
        comparison.hint_figures.append(plot_hint_curves(cells, comparison.hint_curves, out / "hint_curves.png"))
    comparison.hint_gains = cell_hint_gains(cells, notes)
    if comparison.hint_gains:
        write_csv(out / "hint_gains.csv", hint_gain_rows(comparison.hint_gains))
    if photo is not None or crops is not None:
        rgb = photo if photo is not None else crops[:1].to(torch_device).float() / 255.0
        sheet = hint_sheet(cells, rgb, torch_device, notes, out / "hint_sheet.png", photo=photo is not None)
        comparison.hint_figures += [sheet] if sheet else []
        if sheet is None and photo is not None:
            notes.append(f"No run takes local hints (model.hints=local or both), so there is no hint sheet of {hint_photo}.")
    warnings = config_differences(records)
    write_markdown(comparison, records, warnings, records[0].config.monitor)
    if log_wandb:
        notes.append(log_to_wandb(records, comparison.rows, out, comparison.verdict.rows()))
    return comparison


def write_verdict(comparison: Comparison, records: Sequence[Run]) -> None:
    """verdict.csv and verdict.json (the comparisons, and the scores per photo they stand on), and photo_scores.csv."""
    out, verdict = comparison.out, comparison.verdict
    assert verdict is not None
    rows = verdict.rows()
    if rows:
        write_csv(out / "verdict.csv", rows)
    scores = verdict.scores
    report = {
        "input_convention": INPUT_CONVENTION,
        "source": scores.source if scores else None,
        "scores": scores.description if scores else None,
        "alpha": verdict.table.alpha if verdict.table else None,
        "comparisons": [finite(row) for row in rows],
        "notes": verdict.notes,
        "photo_scores": {"ids": scores.photos, "pixels": scores.pixels, "runs": scores.runs} if scores else None,
    }
    atomic_write_text(out / "verdict.json", json.dumps(report, indent=2) + "\n")
    per_photo = [*(scores.rows(records) if scores else [])]
    if comparison.crop_scores is not None and comparison.crop_scores is not scores:
        per_photo += comparison.crop_scores.rows(records)
    if per_photo:
        write_csv(out / "photo_scores.csv", per_photo)
