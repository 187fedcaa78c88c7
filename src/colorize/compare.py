"""Compare runs: ``python -m colorize.compare RUNS_DIR [--out REPORT_DIR] [--wandb]``.

Reads every run directory below RUNS_DIR from disk (config.yaml, metrics.csv, checkpoints; no
W&B server needed) and writes to REPORT_DIR:

  report.md         the table (one row per model x space: mean ± std over seeds, runs, initial
                    weights), the grey baseline and round-trip rows, the colour-space verdict per
                    model, warnings about settings that differ between runs, and the figures
  table.csv         the same table; runs.csv, one row per run
  curves/*.png      learning curves, one plot per metric, one line per run, coloured by cell
  bars/*.png        one bar chart per metric, with the grey baseline marked
  image_sheet.png   the same validation crops colorized by every cell, beside the grey input and
                    the ground truth

A run's numbers are its final metrics: the validation metrics of the evaluation at which its best
checkpoint was chosen (see :mod:`colorize.records`). The reference rows and the image sheet use
the validation crops the runs were scored on, rebuilt from the first run's data config.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from omegaconf import DictConfig
from torch import Tensor

from colorize.data import ColorizationDataModule
from colorize.errors import UserError
from colorize.evaluate import reference_rows, score_rows
from colorize.files import atomic_write_text
from colorize.inference import colorize_rgb, network_predictor
from colorize.loggers import wandb_mode, wandb_problem, wandb_settings
from colorize.predict import load_for_inference, resolve_device
from colorize.records import RunRecord, find_runs
from colorize.report import (
    Cell,
    config_differences,
    group_cells,
    image_sheet,
    markdown_table,
    metric_title,
    plot_bars,
    plot_curves,
    runs_rows,
    table_metrics,
    table_rows,
    verdicts,
    write_csv,
)
from colorize.spaces import SPACES


class CompareError(UserError, ValueError):
    """Runs that cannot be compared; the message says what is missing."""


@dataclass
class Comparison:
    out: Path
    cells: list[Cell]
    metrics: list[str]
    references: dict[str, dict[str, float]]
    rows: list[dict]
    notes: list[str] = field(default_factory=list)
    figures: list[Path] = field(default_factory=list)


def validation_crops(cfg: DictConfig) -> Tensor:
    """The uint8 validation crops a run with this config was scored on (honouring trainer.limit_val_batches)."""
    datamodule = ColorizationDataModule(cfg.data)
    datamodule.setup("validate")
    val_set = datamodule.val_set
    assert val_set is not None
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


def sheet_columns(cells: Sequence[Cell], crops: Tensor, device: torch.device, notes: list[str]) -> list[tuple[str, Tensor]]:
    """grey input | each cell's best checkpoint (its lowest seed) | ground truth, on the same crops."""
    lab = SPACES["lab"]
    rgb = crops.to(device).float() / 255.0
    lightness, _ = lab.encode(rgb)
    columns = [("grey input", lab.decode_grey(lightness))]
    for cell in cells:
        run = cell.sheet_run()
        checkpoint = run.best_checkpoint()
        if checkpoint is None:
            notes.append(f"{cell.name}: run {run.name} has no checkpoint, so it is missing from the image sheet.")
            continue
        try:
            module = load_for_inference(checkpoint, device)
        except UserError as e:
            notes.append(f"{cell.name}: cannot load {checkpoint}, so it is missing from the image sheet: {e}")
            continue
        columns.append((f"{cell.name}\n(seed {run.seed})", colorize_rgb(module.space, rgb, network_predictor(module), 0)))
    columns.append(("ground truth", rgb))
    return [(title, images.cpu()) for title, images in columns]


def log_to_wandb(records: Sequence[RunRecord], rows: Sequence[dict], out: Path) -> str:
    """Log the table as a wandb.Table in a run of its own (job_type=compare; offline when no API key is configured).

    Returns a note for the report: where it went, or why W&B could not take it (the files are written anyway).
    """
    import wandb

    first = records[0].config
    mode = wandb_mode(first.logger)
    columns = list(rows[0])
    try:
        run = wandb.init(
            project=first.logger.project,
            entity=first.logger.entity,
            job_type="compare",
            name=f"compare-{out.name}",
            dir=str(out),
            mode=mode,
            config={"runs": [r.name for r in records]},
            settings=wandb_settings(first.logger),
        )
    except Exception as e:  # unreachable server, bad key...: the report on disk is what matters
        return f"{wandb_problem(e)} The table was not logged there; the report is in {out}."
    run.log({"comparison": wandb.Table(columns=columns, data=[[row[c] for c in columns] for row in rows])})
    run.finish()
    return f"The table was logged to W&B ({mode})."


def write_markdown(comparison: Comparison, records: Sequence[RunRecord], warnings: list[str], monitor: str) -> Path:
    out = comparison.out
    lines = [
        "# Comparison",
        "",
        f"{len(records)} run(s) in {len(comparison.cells)} cell(s). Each cell's numbers are the mean ± sample standard "
        "deviation over its runs (seeds) of each run's final metrics: the validation metrics of the evaluation at which "
        f"its best checkpoint was chosen (best `{monitor}`). All metrics are computed on RGB decoded from the prediction, "
        "whatever the training space. The reference rows are computed on the same validation crops: *grey* is L with zero "
        "chroma; a *round trip* is the true chroma encoded in that space and decoded again (the ceiling of that space).",
        "",
        markdown_table(comparison.cells, comparison.metrics, comparison.references),
        "",
        "## Colour-space verdict",
        "",
    ]
    verdict = verdicts(comparison.cells, comparison.metrics)
    if not verdict:
        lines.append("No model was run in more than one colour space.")
    for model, said in verdict.items():
        lines += [f"**{model}**", "", *(f"- {line}" for line in said), ""]
    if warnings or comparison.notes:
        lines += ["## Warnings", "", *(f"- {w}" for w in warnings + comparison.notes), ""]
    lines += ["## Figures", ""]
    for path in comparison.figures:
        rel = path.relative_to(out).as_posix()
        lines += [f"![{rel}]({rel})", ""]
    path = out / "report.md"
    atomic_write_text(path, "\n".join(lines).rstrip() + "\n")
    return path


def compare(
    runs_dir: str | Path, out: str | Path, sheet_images: int = 6, device: str = "auto", log_wandb: bool = False
) -> Comparison:
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
    cells = group_cells(records)
    metrics = table_metrics(cells)
    torch_device = resolve_device(device)

    references: dict[str, dict[str, float]] = {}
    crops = None
    try:
        crops = validation_crops(records[0].config)
    except UserError as e:
        notes.append(f"The validation data cannot be loaded, so there are no reference rows and no image sheet: {e}")
    if crops is not None:
        rows = reference_rows(SPACES["lab"], size=0)
        references = score_rows(iter(crops), rows, eval_size=0, device=torch_device)
    comparison = Comparison(out, cells, metrics, references, table_rows(cells, metrics, references), notes)

    write_csv(out / "table.csv", comparison.rows)
    write_csv(out / "runs.csv", runs_rows(records))
    comparison.figures += plot_bars(cells, metrics, references.get("grey"), out / "bars")
    if crops is not None:
        columns = sheet_columns(cells, crops[:sheet_images], torch_device, notes)
        comparison.figures.append(image_sheet(columns, out / "image_sheet.png"))
    comparison.figures += plot_curves(cells, out / "curves")
    warnings = config_differences(records)
    write_markdown(comparison, records, warnings, records[0].config.monitor)
    if log_wandb:
        notes.append(log_to_wandb(records, comparison.rows, out))
    return comparison


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m colorize.compare", description=__doc__.split("\n")[0])
    parser.add_argument("runs", help="a folder of run directories, e.g. runs/ or runs/<sweep>")
    parser.add_argument("--out", default="report", help="where to write the report (default: report/)")
    parser.add_argument("--sheet-images", type=int, default=6, help="validation crops in the image sheet")
    parser.add_argument("--wandb", action="store_true", help="also log the table to W&B (offline without an API key)")
    parser.add_argument("--device", default="auto", help="auto (a GPU if there is one), cpu, cuda, ...")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        comparison = compare(args.runs, args.out, args.sheet_images, args.device, args.wandb)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for row in comparison.rows:
        values = "  ".join(
            f"{metric_title(m)} {row[f'{m}_mean']:.4g}" for m in comparison.metrics if row[f"{m}_mean"] is not None
        )
        print(f"{row['model']:>16} {row['space']:<4} {values}")
    for note in comparison.notes:
        print(f"note: {note}")
    print(f"wrote {comparison.out / 'report.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
