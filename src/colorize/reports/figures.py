"""The comparison report's figures: learning curves, bar charts, image sheets and hint curves, as PNG files.

Everything here draws what :mod:`colorize.reports.tables` computed and tensors already colorized; nothing here loads
a model. matplotlib's Figure is used without pyplot: no GUI backend, no global figure state.
"""

from __future__ import annotations

import io
import textwrap
from collections.abc import Sequence
from pathlib import Path

from matplotlib import colormaps
from matplotlib.figure import Figure
from torch import Tensor

from colorize.files import atomic_write_bytes
from colorize.images import to_uint8_image
from colorize.metrics import METRIC_GOALS, METRIC_LABELS
from colorize.reports.hint_curves import CURVE_CAPTION, HINT_CURVE_METRICS, ZHANG_PSNR
from colorize.reports.tables import ARROWS, DECIMALS, ZHANG_LABEL, HintCurves, RunGroup, metric_title


def _save(fig: Figure, path: Path) -> Path:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    atomic_write_bytes(path, buffer.getvalue())
    return path


def _cell_colours(cells: Sequence[RunGroup]) -> dict[str, object]:
    palette = colormaps["tab10"]
    return {cell.name: palette(i % 10) for i, cell in enumerate(cells)}


def plot_curves(cells: Sequence[RunGroup], out_dir: Path) -> list[Path]:
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


def plot_bars(cells: Sequence[RunGroup], metrics: Sequence[str], grey: dict[str, float] | None, out_dir: Path) -> list[Path]:
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


def plot_hint_curves(cells: Sequence[RunGroup], curves: HintCurves, path: Path) -> Path:
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
