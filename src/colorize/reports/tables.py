"""The comparison report's tables: one row per model x space (a :class:`RunGroup`), the settings that differ between
runs, and the hint curves' rows; numbers formatted for people. The verdict is :mod:`colorize.reports.verdict`'s.

Everything here works on :class:`colorize.runs.Run` objects and numbers already computed; nothing here trains or loads
a model. The figures are in :mod:`colorize.reports.figures`.
"""

from __future__ import annotations

import csv
import io
import json
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from colorize.files import atomic_write_text
from colorize.metrics import METRIC_GOALS, METRIC_LABELS
from colorize.models import FAMILIES
from colorize.networks.hint_options import BEFORE_HINT_FIELD
from colorize.reports.hint_curves import HINT_CURVE_METRICS, ZHANG_PSNR, hint_evaluation, row_name, takes_local_hints
from colorize.reports.statistics import Comparison, fixed, paired_bootstrap
from colorize.runs import Run

DECIMALS = {"delta_e": 2, "psnr": 2, "ssim": 4, "cf": 2, "delta_cf": 2, "lpips": 4, "fid": 2}
ARROWS = {"min": " ↓", "max": " ↑", None: ""}
WARM_STARTED = "a trained run"  # a warm start's value in a variant's name, e.g. "gan (generator_ckpt=a trained run)"
# Config keys that may differ between the runs of one comparison without making it unfair.
FREE_KEYS = ("seed", "name", "runs_dir", "resume", "logger.")


@dataclass
class Stat:
    mean: float
    std: float | None  # sample standard deviation over seeds; None with one run
    n: int


@dataclass
class RunGroup:
    """The runs of one model x space (and variant): the same experiment under different seeds."""

    model: str
    space: str
    runs: list[Run]
    variant: str = ""  # the model options that set these runs apart from the model's others, e.g. "encoder=resnet18"

    @property
    def family(self) -> str:
        """The model with its variant: what the verdict compares across spaces, and compares with others in a space."""
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

    def sheet_run(self) -> Run:
        """The run whose predictions stand for the cell in the image sheet: the lowest seed."""
        return min(self.runs, key=lambda r: (r.seed, r.name))


def _model_options(record: Run) -> dict[str, str]:
    """A run's model options as short strings; its initial weights by their kind (random, package, hub, file...), and a
    warm start by whether there is one: each seed starts from its own trained run, yet the runs are one experiment."""
    options = {key: repr(value) for key, value in _flatten(OmegaConf.to_container(record.config.model, resolve=True)).items()}
    options["init"] = record.init.partition(":")[0]
    if not takes_local_hints(record):  # the dense field's options build nothing without local hints
        options = {k: v for k, v in options.items() if k not in BEFORE_HINT_FIELD}
    for name in FAMILIES[record.model].warm_starts if record.model in FAMILIES else ():
        if options.get(name, "None") != "None":
            options[name] = WARM_STARTED
    return options


def group_cells(records: Sequence[Run]) -> list[RunGroup]:
    """One cell per model x space, split further by the model options in which a model's runs differ (its variants)."""
    options = {id(r): _model_options(r) for r in records}
    variants = {}
    for model in {r.model for r in records}:
        own = [options[id(r)] for r in records if r.model == model]
        differ = sorted(k for k in set().union(*own) if len({o.get(k) for o in own}) > 1)
        for record in (r for r in records if r.model == model):
            own = options[id(record)]  # a run without one of them (it builds nothing there) is named without it
            variants[id(record)] = ", ".join(f"{k}={own[k].strip(chr(39))}" for k in differ if k in own)
    cells: dict[tuple[str, str, str], list[Run]] = {}
    for record in records:
        cells.setdefault((record.model, record.space, variants[id(record)]), []).append(record)
    return [
        RunGroup(model, space, sorted(runs, key=lambda r: (r.seed, r.name)), variant)
        for (model, space, variant), runs in sorted(cells.items())
    ]


def table_metrics(cells: Sequence[RunGroup]) -> list[str]:
    """The common-space metrics that at least one run logged, in a fixed order."""
    return [m for m in METRIC_GOALS if any(c.stat(m) for c in cells)]


def metric_title(metric: str) -> str:
    return METRIC_LABELS.get(metric, metric) + ARROWS[METRIC_GOALS.get(metric)]


def format_value(metric: str, value: float | None) -> str:
    """A metric's value for people, at its decimals: "–" for none, never "-0.00" (a value that rounds to zero, whatever
    its sign, is 0.00), and "∞ (identical)" for an infinite one (the PSNR of images equal to the truth)."""
    if value is None or math.isnan(value):
        return "–"
    if math.isinf(value):
        return "∞ (identical)" if value > 0 else "-∞"
    return fixed(value, DECIMALS.get(metric, 4))


def csv_value(value: Any) -> Any:
    """A value as table.csv holds it: empty for none and for a value that is not finite, 0.0 for -0.0."""
    if value is None or isinstance(value, float) and not math.isfinite(value):
        return ""
    return 0.0 if isinstance(value, float) and value == 0 else value


def format_stat(metric: str, stat: Stat | None) -> str:
    if stat is None:
        return "–"
    return format_value(metric, stat.mean) + (f" ± {format_value(metric, stat.std)}" if stat.std is not None else "")


# ---------------------------------------------------------------- tables


def table_rows(cells: Sequence[RunGroup], metrics: Sequence[str], references: dict[str, dict[str, float]]) -> list[dict]:
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
    writer.writerows({k: csv_value(v) for k, v in row.items()} for row in rows)
    atomic_write_text(path, buffer.getvalue())


def markdown_table(cells: Sequence[RunGroup], metrics: Sequence[str], references: dict[str, dict[str, float]]) -> str:
    head = ["model", "space", "init", "runs", *(metric_title(m) for m in metrics)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for cell in cells:
        values = [format_stat(m, cell.stat(m)) for m in metrics]
        head = f"| {cell.family} | {cell.space} | {'; '.join(cell.inits)} | {len(cell.runs)} | "
        lines.append(head + " | ".join(values) + " |")
    for name, ref in references.items():
        values = [format_value(m, ref.get(m)) for m in metrics]
        lines.append(f"| *{name}* | | reference | – | " + " | ".join(values) + " |")
    if any("∞" in line for line in lines[2:]):
        lines += [
            "",
            "∞ (identical): the images are equal to the truth once written as 8-bit, so PSNR is infinite; table.csv "
            "leaves such values empty.",
        ]
    return "\n".join(lines)


def runs_rows(records: Sequence[Run]) -> list[dict]:
    """One row per run: its cell, seed, init, best step and final metrics."""
    rows = []
    for record in records:
        row = {"run": record.name, "model": record.model, "space": record.space, "seed": record.seed, "init": record.init}
        row["best_step"] = record.best_step()
        row.update(record.final_metrics())
        rows.append(row)
    columns = list(dict.fromkeys(k for row in rows for k in row))
    return [{k: row.get(k) for k in columns} for row in rows]


# ---------------------------------------------------------------- warnings


def _flatten(tree: dict, prefix: str = "") -> dict[str, object]:
    flat: dict[str, object] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def config_differences(records: Sequence[Run]) -> list[str]:
    """Settings that differ where a fair comparison needs them equal: anything across runs (model.* within a cell; the
    model options in which a model's runs differ make its variants, which the table shows apart)."""
    flats = {id(r): _flatten(OmegaConf.to_container(r.config, resolve=True)) for r in records}
    for record in records:  # a warm start's checkpoint is each seed's own: only whether there is one must be equal
        flats[id(record)] |= {f"model.{k}": v for k, v in _model_options(record).items() if v == WARM_STARTED}
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


# ---------------------------------------------------------------- hint curves

ZHANG_LABEL = "Zhang et al. 2017 (ImageNet, 256²)"
HintCurves = Sequence[tuple[RunGroup, dict]]  # each cell's mean hint curve (colorize.reports.hint_curves.cell_hint_curves)


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
            shown = [format_value(metric, values.get(n)) for n in counts]
            head = f"| {cell.family} | {cell.space} | {curve['runs']} | {metric_title(metric)} | "
            lines.append(head + " | ".join(shown) + " |")
    zhang = [f"{ZHANG_PSNR[n]:.2f}" if n in ZHANG_PSNR else "–" for n in counts]
    lines.append(f"| *{ZHANG_LABEL}* | lab | – | {metric_title('psnr')} | " + " | ".join(zhang) + " |")
    return "\n".join(lines)


def cell_hint_curves(cells: Sequence[RunGroup], notes: list[str]) -> list[tuple[RunGroup, dict[str, Any]]]:
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


# The count of hints whose gain over none the report states with its interval (issue 29's goal is +2 dB PSNR at 10).
HINT_GAIN_COUNT = 10
HintGains = Sequence[tuple[RunGroup, list[Comparison]]]


def cell_hint_gains(cells: Sequence[RunGroup], notes: list[str], count: int = HINT_GAIN_COUNT) -> HintGains:
    """What ``count`` hints change against none, for each cell whose runs' evaluations keep the hint curve photo by
    photo: each colour metric with a better direction, paired by seed and photo, with its two-level bootstrap interval
    (:func:`colorize.reports.statistics.paired_bootstrap`). Cells evaluated before the curve was kept per photo, or on
    different photos, are left out with a note."""
    with_hints, without = row_name(count), row_name(0)
    gains = []
    for cell in cells:
        reports = [r for r in (hint_evaluation(run, notes) for run in cell.runs) if r is not None]
        if not reports:
            continue
        rows = [r["photo_scores"]["rows"] for r in reports if with_hints in r.get("photo_scores", {}).get("rows", {})]
        if len(rows) < len(reports) or len({tuple(r["photo_scores"]["ids"]) for r in reports}) > 1:
            notes.append(
                f"{cell.name}: its runs' hint curves are not all kept photo by photo on the same photos, so the gain from "
                f"hints is not stated (python -m colorize.evaluate each run's best checkpoint again)."
            )
            continue
        metrics = [m for m in HINT_CURVE_METRICS if METRIC_GOALS.get(m) and all(m in r[with_hints] for r in rows)]
        comparisons = [
            paired_bootstrap(
                [r[with_hints][m] for r in rows],
                [r[without][m] for r in rows],
                goal=METRIC_GOALS[m],
                metric=m,
                names=(with_hints, without),
                group=cell.name,
            )
            for m in metrics
        ]
        if comparisons:
            gains.append((cell, comparisons))
    return gains


def interval_text(comparison: Comparison) -> str:
    """A comparison's mean difference and 95% interval, signed, at its metric's decimals: "+2.55 [+1.72, +3.49]"."""
    low, high = comparison.interval()
    digits = DECIMALS.get(comparison.metric, 3)
    difference, low, high = (fixed(v, digits, sign=True) for v in (comparison.difference, low, high))
    return f"{difference} [{low}, {high}]"


def hint_gain_markdown(gains: HintGains) -> str:
    """A row per cell: each metric's mean change from none to the stated count of hints, with its 95% interval."""
    metrics = list(dict.fromkeys(c.metric for _, comparisons in gains for c in comparisons))
    lines = ["| model | space | seeds × photos | " + " | ".join(metric_title(m) for m in metrics) + " |"]
    lines.append("|" + "---|" * (3 + len(metrics)))
    for cell, comparisons in gains:
        by_metric = {c.metric: c for c in comparisons}
        first = comparisons[0]
        shown = [interval_text(by_metric[m]) if m in by_metric else "–" for m in metrics]
        lines.append(f"| {cell.family} | {cell.space} | {first.seeds} × {first.photos} | " + " | ".join(shown) + " |")
    return "\n".join(lines)


def hint_gain_rows(gains: HintGains) -> list[dict]:
    """hint_gains.csv: one row per cell and metric."""
    rows = []
    for cell, comparisons in gains:
        for c in comparisons:
            low, high = c.interval()
            rows.append(
                {"model": cell.model, "variant": cell.variant, "space": cell.space, "metric": c.metric, "hints": c.a}
                | {"against": c.b, "seeds": c.seeds, "photos": c.photos, "difference": c.difference, "low": low}
                | {"high": high, "p_better": c.p_better, "p_value": c.p_value}
            )
    return rows
