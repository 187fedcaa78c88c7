"""The comparison report: a table per model x space, the colour-space verdict, plots and the image sheet.

Everything here works on :class:`colorize.reports.records.RunRecord` objects and tensors already computed;
nothing here trains or loads a model.
"""

from __future__ import annotations

import csv
import io
import json
import statistics
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from matplotlib import colormaps
from matplotlib.figure import Figure  # no pyplot: no GUI backend, no global figure state
from omegaconf import OmegaConf
from torch import Tensor

from colorize.errors import UserError
from colorize.files import atomic_write_bytes, atomic_write_text
from colorize.images import read_rgb, to_uint8_image
from colorize.inference.colorizing import resize
from colorize.inference.loading import load_colorizer, resolve_device, working_size
from colorize.metrics import METRIC_GOALS, METRIC_LABELS
from colorize.portable import working_shape
from colorize.reports import DEFAULT_EVAL_SIZE
from colorize.reports.hint_curves import (
    CURVE_CAPTION,
    HINT_CURVE_METRICS,
    SHEET_HINT_COUNTS,
    ZHANG_PSNR,
    hint_columns,
    hint_evaluation,
)
from colorize.reports.records import RunRecord
from colorize.reports.scoring import as_written

DECIMALS = {"delta_e": 2, "psnr": 2, "ssim": 4, "cf": 2, "delta_cf": 2, "lpips": 4, "fid": 2}
ARROWS = {"min": " ↓", "max": " ↑", None: ""}
# Config keys that may differ between the runs of one comparison without making it unfair.
FREE_KEYS = ("seed", "name", "runs_dir", "resume", "logger.")


@dataclass
class Stat:
    mean: float
    std: float | None  # sample standard deviation over seeds; None with one run
    n: int


@dataclass
class Cell:
    """The runs of one model x space (and variant): the same experiment under different seeds."""

    model: str
    space: str
    runs: list[RunRecord]
    variant: str = ""  # the model options that set these runs apart from the model's others, e.g. "encoder=resnet18"

    @property
    def family(self) -> str:
        """The model with its variant: what the colour-space verdict compares across spaces."""
        return f"{self.model} ({self.variant})" if self.variant else self.model

    @property
    def name(self) -> str:
        return f"{self.model}-{self.space}" + (f" ({self.variant})" if self.variant else "")

    @property
    def seeds(self) -> list[int]:
        return sorted(r.seed for r in self.runs)

    @property
    def inits(self) -> list[str]:
        return sorted({r.init for r in self.runs})

    def stat(self, metric: str) -> Stat | None:
        values = [r.final_metrics()[f"val/{metric}"] for r in self.runs if f"val/{metric}" in r.final_metrics()]
        if not values:
            return None
        return Stat(statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else None, len(values))

    def sheet_run(self) -> RunRecord:
        """The run whose predictions stand for the cell in the image sheet: the lowest seed."""
        return min(self.runs, key=lambda r: (r.seed, r.name))


def _model_options(record: RunRecord) -> dict[str, str]:
    """A run's model options as short strings; its initial weights by their kind (random, package, hub, file...)."""
    options = {key: repr(value) for key, value in _flatten(OmegaConf.to_container(record.config.model, resolve=True)).items()}
    options["init"] = record.init.partition(":")[0]
    return options


def group_cells(records: Sequence[RunRecord]) -> list[Cell]:
    """One cell per model x space, split further by the model options in which a model's runs differ (its variants)."""
    options = {id(r): _model_options(r) for r in records}
    variants = {}
    for model in {r.model for r in records}:
        own = [options[id(r)] for r in records if r.model == model]
        differ = sorted(k for k in set().union(*own) if len({o.get(k) for o in own}) > 1)
        for record in (r for r in records if r.model == model):
            variants[id(record)] = ", ".join(f"{k}={options[id(record)].get(k, 'None').strip(chr(39))}" for k in differ)
    cells: dict[tuple[str, str, str], list[RunRecord]] = {}
    for record in records:
        cells.setdefault((record.model, record.space, variants[id(record)]), []).append(record)
    return [
        Cell(model, space, sorted(runs, key=lambda r: (r.seed, r.name)), variant)
        for (model, space, variant), runs in sorted(cells.items())
    ]


def table_metrics(cells: Sequence[Cell]) -> list[str]:
    """The common-space metrics that at least one run logged, in a fixed order."""
    return [m for m in METRIC_GOALS if any(c.stat(m) for c in cells)]


def metric_title(metric: str) -> str:
    return METRIC_LABELS.get(metric, metric) + ARROWS[METRIC_GOALS.get(metric)]


def format_stat(metric: str, stat: Stat | None) -> str:
    if stat is None:
        return "–"
    digits = DECIMALS.get(metric, 4)
    return f"{stat.mean:.{digits}f}" + (f" ± {stat.std:.{digits}f}" if stat.std is not None else "")


# ---------------------------------------------------------------- tables


def table_rows(cells: Sequence[Cell], metrics: Sequence[str], references: dict[str, dict[str, float]]) -> list[dict]:
    """One row per cell, then one per reference (grey baseline, round trips): the CSV's rows."""
    rows = []
    for cell in cells:
        row = {"model": cell.model, "variant": cell.variant, "space": cell.space, "init": "; ".join(cell.inits)}
        row["runs"] = len(cell.runs)
        row["seeds"] = " ".join(map(str, cell.seeds))
        for metric in metrics:
            stat = cell.stat(metric)
            row[f"{metric}_mean"] = stat.mean if stat else None
            row[f"{metric}_std"] = stat.std if stat else None
        rows.append(row)
    for name, values in references.items():
        row = {"model": name, "variant": "", "space": "", "init": "reference", "runs": 0, "seeds": ""}
        for metric in metrics:
            row[f"{metric}_mean"], row[f"{metric}_std"] = values.get(metric), None
        rows.append(row)
    return rows


def write_csv(path: Path, rows: Sequence[dict]) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: "" if v is None else v for k, v in row.items()} for row in rows)
    atomic_write_text(path, buffer.getvalue())


def markdown_table(cells: Sequence[Cell], metrics: Sequence[str], references: dict[str, dict[str, float]]) -> str:
    head = ["model", "space", "init", "runs", *(metric_title(m) for m in metrics)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for cell in cells:
        values = [format_stat(m, cell.stat(m)) for m in metrics]
        head = f"| {cell.family} | {cell.space} | {'; '.join(cell.inits)} | {len(cell.runs)} | "
        lines.append(head + " | ".join(values) + " |")
    for name, ref in references.items():
        values = [format_stat(m, Stat(ref[m], None, 1)) if m in ref else "–" for m in metrics]
        lines.append(f"| *{name}* | | reference | – | " + " | ".join(values) + " |")
    return "\n".join(lines)


def runs_rows(records: Sequence[RunRecord]) -> list[dict]:
    """One row per run: its cell, seed, init, best step and final metrics."""
    rows = []
    for record in records:
        row = {"run": record.name, "model": record.model, "space": record.space, "seed": record.seed, "init": record.init}
        row["best_step"] = record.best_step()
        row.update(record.final_metrics())
        rows.append(row)
    columns = list(dict.fromkeys(k for row in rows for k in row))
    return [{k: row.get(k) for k in columns} for row in rows]


# ---------------------------------------------------------------- verdict and warnings


def verdicts(cells: Sequence[Cell], metrics: Sequence[str]) -> dict[str, list[str]]:
    """Per model with two or more spaces: which space wins each scored metric, and whether the gap exceeds the seed spread.

    A gap counts when it is larger than the sum of the two cells' standard deviations over seeds
    (their mean ± std intervals do not overlap); with one seed the spread is unknown.
    """
    result: dict[str, list[str]] = {}
    for model in dict.fromkeys(c.family for c in cells):
        own = [c for c in cells if c.family == model]
        if len(own) < 2:
            continue
        lines = []
        for metric in metrics:
            goal = METRIC_GOALS.get(metric)
            ranked = [(c, c.stat(metric)) for c in own if c.stat(metric) is not None]
            if goal is None or len(ranked) < 2:
                continue
            ranked.sort(key=lambda cs: cs[1].mean, reverse=goal == "max")
            (best, b), (second, s) = ranked[0], ranked[1]
            fmt = f".{DECIMALS.get(metric, 4)}f"
            said = f"**{best.space}** on {METRIC_LABELS.get(metric, metric)}: {b.mean:{fmt}} vs {s.mean:{fmt}} ({second.space})"
            if b.std is None or s.std is None:
                lines.append(f"{said}; one seed, so the spread over seeds is unknown.")
                continue
            gap, spread = abs(b.mean - s.mean), f"the seed spread ({b.std:{fmt}} + {s.std:{fmt}})"
            if gap > b.std + s.std:
                lines.append(f"{said}; the gap {gap:{fmt}} exceeds {spread}.")
            else:
                lines.append(f"{said}; the gap {gap:{fmt}} is within {spread}: no clear winner.")
        result[model] = lines
    return result


def _flatten(tree: dict, prefix: str = "") -> dict[str, object]:
    flat: dict[str, object] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def config_differences(records: Sequence[RunRecord]) -> list[str]:
    """Settings that differ where a fair comparison needs them equal: anything across runs (model.* within a cell; the
    model options in which a model's runs differ make its variants, which the table shows apart)."""
    flats = {id(r): _flatten(OmegaConf.to_container(r.config, resolve=True)) for r in records}
    keys = sorted({k for flat in flats.values() for k in flat if not k.startswith(FREE_KEYS) and k != "space.name"})
    cells = group_cells(records)
    warnings = []
    for key in keys:
        scopes = [(cell.name, cell.runs) for cell in cells] if key.startswith("model.") else [("", list(records))]
        for where, runs in scopes:
            values = sorted({repr(flats[id(r)].get(key)) for r in runs})
            if len(values) > 1:
                warnings.append(f"`{key}` differs between runs{f' (within {where})' if where else ''}: {', '.join(values)}")
    return warnings


# ---------------------------------------------------------------- figures


def _save(fig: Figure, path: Path) -> Path:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    atomic_write_bytes(path, buffer.getvalue())
    return path


def _cell_colours(cells: Sequence[Cell]) -> dict[str, object]:
    palette = colormaps["tab10"]
    return {cell.name: palette(i % 10) for i, cell in enumerate(cells)}


def plot_curves(cells: Sequence[Cell], out_dir: Path) -> list[Path]:
    """One plot per logged metric: a line per run, coloured by cell."""
    colours = _cell_colours(cells)
    metrics = sorted(
        {k for c in cells for r in c.runs for v in r.history.values() for k in v if k != "epoch" and not k.startswith("lr-")}
    )
    paths = []
    for metric in metrics:
        fig = Figure(figsize=(7, 4))
        ax = fig.subplots()
        for cell in cells:
            for i, run in enumerate(cell.runs):
                points = run.series(metric)
                if points:
                    steps, values = zip(*points)
                    ax.plot(
                        steps,
                        values,
                        color=colours[cell.name],
                        marker="o" if len(points) < 30 else None,
                        markersize=3,
                        alpha=0.85,
                        label=cell.name if i == 0 else None,
                    )
        name = metric.split("/")[-1]
        ax.set(
            xlabel="step", ylabel=metric, title=f"{metric}{ARROWS[METRIC_GOALS.get(name)] if metric.startswith('val/') else ''}"
        )
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        paths.append(_save(fig, out_dir / f"{metric.replace('/', '_')}.png"))
    return paths


def plot_bars(cells: Sequence[Cell], metrics: Sequence[str], grey: dict[str, float] | None, out_dir: Path) -> list[Path]:
    """One bar chart per metric: mean over seeds with ± std, the grey baseline as a dashed line."""
    colours = _cell_colours(cells)
    paths = []
    for metric in metrics:
        shown = [(c, c.stat(metric)) for c in cells if c.stat(metric) is not None]
        fig = Figure(figsize=(1.2 * len(shown) + 2.5, 4))
        ax = fig.subplots()
        ax.bar(
            [c.name for c, _ in shown],
            [s.mean for _, s in shown],
            yerr=[s.std or 0.0 for _, s in shown],
            capsize=4,
            color=[colours[c.name] for c, _ in shown],
        )
        if grey and metric in grey:
            ax.axhline(
                grey[metric],
                color="black",
                linestyle="--",
                linewidth=1.2,
                label=f"grey baseline ({grey[metric]:.{DECIMALS.get(metric, 4)}f})",
            )
            ax.legend(fontsize=8)
        ax.set(ylabel=METRIC_LABELS.get(metric, metric), title=f"{metric_title(metric)} (mean ± std over seeds)")
        ax.tick_params(axis="x", rotation=30)
        ax.grid(axis="y", alpha=0.3)
        paths.append(_save(fig, out_dir / f"{metric}.png"))
    return paths


def image_sheet(columns: Sequence[tuple[str, Tensor]], path: Path, row_titles: Sequence[str] = ()) -> Path:
    """A grid of images: one column per (title, RGB batch in [0, 1]), one row per image (titled on the left if given)."""
    return _save(sheet_figure(columns, row_titles), path)


def sheet_figure(columns: Sequence[tuple[str, Tensor]], row_titles: Sequence[str] = ()) -> Figure:
    rows = len(columns[0][1])
    height, width = columns[0][1].shape[-2:]
    inches = max(1.2, width / 100), max(1.2, height / 100)
    # Long variant names wrap within their column (about 12 characters an inch at 9 pt), so that titles never overlap.
    titles = [textwrap.fill(title, max(8, int(inches[0] * 12))) for title, _ in columns]
    title_inches = 0.1 + 0.16 * max(title.count("\n") + 1 for title in titles)
    fig = Figure(figsize=(inches[0] * len(columns), inches[1] * rows + title_inches))
    axes = fig.subplots(rows, len(columns), squeeze=False)
    for col, (title, (_, images)) in enumerate(zip(titles, columns)):
        for row in range(rows):
            ax = axes[row][col]
            ax.imshow(to_uint8_image(images[row]), interpolation="nearest")
            ax.set_axis_off()
            if row == 0:
                ax.set_title(title, fontsize=9)
            if col == 0 and row_titles:
                ax.text(-0.05, 0.5, row_titles[row], transform=ax.transAxes, ha="right", va="center", fontsize=9)
    fig.subplots_adjust(left=0, right=1, bottom=0, top=1 - title_inches / fig.get_figheight(), wspace=0.03, hspace=0.03)
    return fig


# ---------------------------------------------------------------- hint curves

ZHANG_LABEL = "Zhang et al. 2017 (ImageNet, 256²)"
HintCurves = Sequence[tuple[Cell, dict]]  # each cell's mean hint curve (colorize.reports.hint_curves.cell_hint_curves)


def hint_curve_rows(curves: HintCurves) -> list[dict]:
    """One row per cell and count of hints, then Zhang's published points: the CSV's rows."""
    rows = []
    for cell, curve in curves:
        for i, count in enumerate(curve["counts"]):
            row = {"model": cell.model, "variant": cell.variant, "space": cell.space, "runs": curve["runs"], "hints": count}
            rows.append(row | {metric: curve[metric][i] for metric in HINT_CURVE_METRICS})
    for count, psnr in ZHANG_PSNR.items():
        row = {"model": ZHANG_LABEL, "variant": "", "space": "lab", "runs": "", "hints": count}
        rows.append(row | {metric: psnr if metric == "psnr" else None for metric in HINT_CURVE_METRICS})
    return rows


def hint_curve_markdown(curves: HintCurves) -> str:
    """A table of each cell's curve, one column per number of hints, and Zhang's published PSNRs."""
    counts = list(dict.fromkeys(n for _, curve in curves for n in curve["counts"]))
    lines = ["| model | space | runs | metric | " + " | ".join(map(str, counts)) + " |"]
    lines.append("|" + "---|" * (4 + len(counts)))
    for cell, curve in curves:
        for metric in HINT_CURVE_METRICS:
            values = dict(zip(curve["counts"], curve[metric], strict=True))
            shown = [f"{values[n]:.{DECIMALS[metric]}f}" if n in values else "–" for n in counts]
            head = f"| {cell.family} | {cell.space} | {curve['runs']} | {metric_title(metric)} | "
            lines.append(head + " | ".join(shown) + " |")
    zhang = [f"{ZHANG_PSNR[n]:.2f}" if n in ZHANG_PSNR else "–" for n in counts]
    lines.append(f"| *{ZHANG_LABEL}* | lab | – | {metric_title('psnr')} | " + " | ".join(zhang) + " |")
    return "\n".join(lines)


def plot_hint_curves(cells: Sequence[Cell], curves: HintCurves, path: Path) -> Path:
    """PSNR, ΔE2000 and ΔCF against the number of hints (a symlog axis, so that 0 shows): a line per cell, coloured as in
    the other figures; Zhang's published PSNRs as markers."""
    colours = _cell_colours(cells)
    fig = Figure(figsize=(15, 4.2))
    axes = fig.subplots(1, len(HINT_CURVE_METRICS))
    counts = sorted({n for _, curve in curves for n in curve["counts"]} | set(ZHANG_PSNR))
    for ax, metric in zip(axes, HINT_CURVE_METRICS, strict=True):
        for cell, curve in curves:
            runs = f" ({curve['runs']} runs)" if curve["runs"] > 1 else ""
            ax.plot(curve["counts"], curve[metric], color=colours[cell.name], marker="o", markersize=4, label=cell.name + runs)
        if metric == "psnr":
            ax.plot(list(ZHANG_PSNR), list(ZHANG_PSNR.values()), "k*", markersize=10, label=ZHANG_LABEL)
        ax.set_xscale("symlog", linthresh=1)
        ax.set_xticks(counts, [str(n) for n in counts])
        ax.set(xlabel="hints", ylabel=METRIC_LABELS[metric], title=metric_title(metric))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.text(0.5, -0.03, CURVE_CAPTION, ha="center", fontsize=9)
    return _save(fig, path)


def cell_hint_curves(cells: Sequence[Cell], notes: list[str]) -> list[tuple[Cell, dict[str, Any]]]:
    """Each cell's hint curve: the mean over its runs' curves (each of its best checkpoint), with ``runs`` beside them.

    Cells whose runs have no curve are left out. A note says when the curves were measured on different test sets or
    sizes.
    """
    curves = []
    protocols = {}
    for cell in cells:
        reports = [r for r in (hint_evaluation(run, notes) for run in cell.runs) if r is not None]
        if not reports:
            continue
        counts = reports[0]["hint_curve"]["counts"]
        if any(r["hint_curve"]["counts"] != counts for r in reports):
            notes.append(f"{cell.name}: its runs' hint curves count hints differently; those with {counts} are averaged.")
            reports = [r for r in reports if r["hint_curve"]["counts"] == counts]
        curve: dict[str, Any] = {"counts": counts, "runs": len(reports)}
        for metric in HINT_CURVE_METRICS:
            curve[metric] = [statistics.fmean(r["hint_curve"][metric][i] for r in reports) for i in range(len(counts))]
        curves.append((cell, curve))
        for report in reports:
            test_set = {k: v for k, v in report["test_set"].items() if k != "names"}
            size = {k: report["protocol"][k] for k in ("eval_size", "working_size")}
            protocols.setdefault(json.dumps([test_set, size], sort_keys=True), []).append(cell.name)
    if len(protocols) > 1:
        groups = "; ".join(", ".join(dict.fromkeys(names)) for names in protocols.values())
        notes.append(
            f"The hint curves were measured on different test sets or sizes (alike: {groups}): compare them within a group."
        )
    return curves


def photo_hint_sheet(
    checkpoint: str | Path,
    photo: str | Path,
    out: str | Path,
    counts: Sequence[int] = SHEET_HINT_COUNTS,
    eval_size: int = DEFAULT_EVAL_SIZE,
    size: int | None = None,
    device: str = "auto",
) -> Path:
    """Write a PNG of one photo, scaled as evaluate scales it, colorized by a checkpoint with each count of hints (the
    hint curve's locations for the first test photo), beside the ground truth."""

    torch_device = resolve_device(device)
    colorizer = load_colorizer(checkpoint, torch_device)
    if not colorizer.hint_kind.local:
        raise UserError(
            f"{checkpoint} was trained without local colour hints (model.hints={colorizer.hints}), so it has no hint "
            "sheet. Use a checkpoint trained with model.hints=local or both."
        )
    image = read_rgb(photo).to(torch_device).unsqueeze(0).float() / 255.0
    rgb = as_written(resize(image, working_shape(*image.shape[-2:], eval_size)))
    columns = hint_columns(colorizer, rgb, working_size(checkpoint, size), counts)
    return image_sheet(columns, Path(out).expanduser())
