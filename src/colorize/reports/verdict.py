"""The comparison's verdict: which colour space, and which family, colorizes best, and how sure that is.

Its numbers are scores per photo of each run's best checkpoint (:class:`PhotoScores`): the runs' own evaluations on
held-out photos (``evaluate``'s metrics.json in each run directory) where every run has one on the same photos, else
compare's own pass over the validation crops. From them, on every metric with a score per photo and a better
direction (:data:`VERDICT_METRICS`):

- for each family (and variant), each pair of the spaces it was trained in;
- for each space, each pair of the families (and variants) trained in it;

the paired comparison of :mod:`colorize.reports.statistics`: the mean difference over the seeds both arms have and
the same photos, its 95% interval from a bootstrap over seeds and photos, the probability of improvement, and
Holm's correction over every comparison of the report. A seed that one arm has and the other has not is left out of
that pair, with a note.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

import numpy as np

from colorize.metrics import METRIC_GOALS, METRIC_LABELS
from colorize.reports.evaluation import model_row_name, photo_evaluations
from colorize.reports.fid_lpips import PHOTO_METRICS
from colorize.reports.statistics import Table, correct, pairwise
from colorize.reports.tables import RunGroup
from colorize.runs import Run

# Colourfulness has a score per photo but no better direction (more is not truer): it is shown, never judged.
VERDICT_METRICS = tuple(m for m in PHOTO_METRICS if METRIC_GOALS.get(m))
ALPHA = 0.05
RESAMPLES = 10_000  # at least; more where Holm over many comparisons needs them to reject anything
SOURCES = ("evaluation", "crops")


@dataclass
class PhotoScores:
    """Each run's score on every photo of one set, metric by metric; ``references``: the reference rows' (crops only)."""

    source: str  # one of SOURCES
    description: str  # what the photos are, for the report
    photos: list[str]  # ids, in the order of every list of scores
    pixels: list[int]
    runs: dict[str, dict[str, list[float]]]  # run name -> metric -> its score on each photo
    references: dict[str, dict[str, list[float]]] = field(default_factory=dict)

    def rows(self, records: Sequence[Run]) -> list[dict[str, Any]]:
        """photo_scores.csv's lines: one per run (and reference row) and photo."""
        metrics = [m for m in PHOTO_METRICS if any(m in s for s in (*self.runs.values(), *self.references.values()))]
        described = {r.name: {"model": r.model, "space": r.space, "seed": r.seed} for r in records}
        rows = [(name, described.get(name, {}), scores) for name, scores in self.runs.items()]
        rows += [(name, {"model": name, "space": "", "seed": ""}, scores) for name, scores in self.references.items()]
        return [
            {"source": self.source, "run": name, **about, "photo": photo, "pixels": pixels}
            | {m: scores[m][i] if m in scores else None for m in metrics}
            for name, about, scores in rows
            for i, (photo, pixels) in enumerate(zip(self.photos, self.pixels, strict=True))
        ]


def _test_set_key(report: dict[str, Any]) -> tuple[str, int]:
    """What makes two evaluations comparable: the same test set, scaled to the same size."""
    test_set = {k: v for k, v in report["test_set"].items() if k not in ("names", "images", "skipped")}
    described = ", ".join(f"{k} {v}" for k, v in sorted(test_set.items()) if k != "held_out")
    return described, int(report["protocol"]["eval_size"])


def evaluated_scores(records: Sequence[Run], notes: list[str]) -> PhotoScores | None:
    """The runs' own evaluations on held-out photos, when every run has one of its best checkpoint with per-photo
    scores on the same test set and the same photos (the one with most photos where several qualify); else None, with
    a note saying why."""
    found = {r.name: photo_evaluations(r, notes) for r in records}
    missing = [name for name, reports in found.items() if not reports]
    if len(missing) == len(records):
        return None
    if missing:
        notes.append(
            f"{len(missing)} of {len(records)} runs ({', '.join(missing[:3])}{', ...' if len(missing) > 3 else ''}) have "
            "no evaluation of their best checkpoint with scores per photo (python -m colorize.evaluate <its best "
            "checkpoint>), so the verdict uses compare's own pass over the validation crops."
        )
        return None
    newest: dict[str, dict[tuple[str, int], dict[str, Any]]] = {}
    for name, reports in found.items():
        for _, report in reversed(reports):  # newest last: it wins
            newest.setdefault(name, {})[_test_set_key(report)] = report
    common = set.intersection(*(set(by_key) for by_key in newest.values()))
    candidates = []
    for key in sorted(common):
        reports = [newest[r.name][key] for r in records]
        ids = reports[0]["photo_scores"]["ids"]
        if all(report["photo_scores"]["ids"] == ids for report in reports):
            candidates.append((len(ids), key, reports))
        else:
            notes.append(f"The runs' evaluations on {key[0]} at {key[1]} px score different photos: they are not paired.")
    if not candidates:
        notes.append(
            "The runs' evaluations are not all of one test set with the same photos, so the verdict uses compare's own "
            "pass over the validation crops."
        )
        return None
    count, (test_set, eval_size), reports = max(candidates, key=lambda c: (c[0], c[1]))
    runs = {}
    for record, report in zip(records, reports, strict=True):
        runs[record.name] = report["photo_scores"]["rows"][model_row_name(report["model"], report["space"])]
    first = reports[0]
    held_out = "held-out " if "held_out" in first["test_set"] else ""
    description = (
        f"each run's best checkpoint evaluated by `evaluate` on {count} {held_out}photos ({test_set}), scaled to "
        f"{eval_size} px, chroma predicted at each run's crop size"
    )
    return PhotoScores("evaluation", description, list(first["photo_scores"]["ids"]), first["photo_scores"]["pixels"], runs)


@dataclass
class Verdict:
    """Every comparison of the report (``table``, None when there is nothing to compare) and what it stands on."""

    table: Table | None
    scores: PhotoScores | None
    groups: dict[str, str]  # each comparison group and what it compares ("spaces" or "families")
    notes: list[str]

    def rows(self) -> list[dict[str, Any]]:
        if self.table is None or self.scores is None:
            return []
        return [row | {"source": self.scores.source} for row in self.table.rows(METRIC_LABELS)]


def _seed_runs(cell: RunGroup, scores: PhotoScores, notes: list[str]) -> dict[int, Run]:
    """The run of each seed of a cell that has scores (the first by name where a seed was run twice)."""
    chosen: dict[int, Run] = {}
    for record in cell.runs:
        if record.name not in scores.runs:
            continue
        if record.seed in chosen:
            notes.append(f"{cell.name}: seed {record.seed} was run twice; the verdict pairs {chosen[record.seed].name}.")
            continue
        chosen[record.seed] = record
    return chosen


def _arms(cells: Sequence[RunGroup]) -> list[tuple[str, str, dict[str, RunGroup]]]:
    """(group, what it compares, {arm: cell}): the spaces of each family, then the families in each space."""
    arms = []
    for family in dict.fromkeys(c.family for c in cells):
        own = {c.space: c for c in cells if c.family == family}
        if len(own) > 1:
            arms.append((f"spaces of {family}", "spaces", own))
    for space in dict.fromkeys(c.space for c in cells):
        own = {c.family: c for c in cells if c.space == space}
        if len(own) > 1:
            arms.append((f"families in {space}", "families", own))
    return arms


def judge(cells: Sequence[RunGroup], scores: PhotoScores | None, alpha: float = ALPHA) -> Verdict:
    """Every pair of spaces within a family and of families within a space, on every metric of
    :data:`VERDICT_METRICS` that both arms' runs have, decided together (Holm over all of them)."""
    notes: list[str] = []
    arms = _arms(cells)
    if scores is None or not arms:
        return Verdict(None, scores, {}, notes)
    paired: list[tuple[str, dict[str, dict[str, np.ndarray]]]] = []
    for group, _, own in arms:
        runs = {name: _seed_runs(cell, scores, notes) for name, cell in own.items()}
        for a, b in combinations(own, 2):
            seeds = sorted(set(runs[a]) & set(runs[b]))
            only = {arm: sorted(set(runs[arm]) - set(seeds)) for arm in (a, b)}
            if not seeds:
                notes.append(f"{group}: {a} and {b} have no seed in common, so they are not compared.")
                continue
            if only[a] or only[b]:
                left = "; ".join(f"{arm}'s seed(s) {', '.join(map(str, s))}" for arm, s in only.items() if s)
                notes.append(f"{group}: {a} vs {b} paired over seed(s) {', '.join(map(str, seeds))}; left out: {left}.")
            chosen = [runs[a][s] for s in seeds] + [runs[b][s] for s in seeds]
            metrics = [m for m in VERDICT_METRICS if all(m in scores.runs[r.name] for r in chosen)]
            arrays = {
                metric: {arm: np.array([scores.runs[runs[arm][s].name][metric] for s in seeds]) for arm in (a, b)}
                for metric in metrics
            }
            if arrays:
                paired.append((group, arrays))
    if not paired:
        return Verdict(None, scores, {}, notes)
    count = sum(len(arrays) for _, arrays in paired)
    resamples = max(RESAMPLES, math.ceil(4 * count / alpha))  # twice what Holm needs to reject anything at all
    goals = {metric: str(METRIC_GOALS[metric]) for metric in VERDICT_METRICS}
    comparisons = [c for group, arrays in paired for c in pairwise(arrays, goals, group=group, resamples=resamples)]
    groups = {group: kind for group, kind, _ in arms}
    return Verdict(correct(comparisons, alpha), scores, groups, notes)


def verdict_markdown(verdict: Verdict) -> list[str]:
    """The report's verdict section, after its heading: the source of the scores, the sentences of each group, the
    table of every comparison, and the notes."""
    if verdict.scores is None:
        return [
            "No scores per photo could be had (the validation data cannot be loaded, and no run has an evaluation), "
            "so there is no verdict.",
            "",
        ]
    lines = [f"Scores per photo ({verdict.scores.source}): {verdict.scores.description}.", ""]
    if verdict.table is None:
        lines += [
            "No family was run in more than one colour space, and no space with more than one family (with a "
            "seed in common): nothing to compare.",
            "",
        ]
    else:
        said = verdict.table.sentences(METRIC_LABELS)
        for kind, title in (("spaces", "Which space, for each family"), ("families", "Which family, in each space")):
            groups = [group for group, k in verdict.groups.items() if k == kind]
            if not groups:
                continue
            lines += [f"### {title}", ""]
            for group in groups:
                own = [s for s, v in zip(said, verdict.table.verdicts, strict=True) if v.comparison.group == group]
                lines += [f"**{group}**", "", *(f"- {sentence}" for sentence in own), ""]
        lines += ["### Every comparison", "", verdict.table.markdown_table(METRIC_LABELS), ""]
    if verdict.notes:
        lines += [*(f"- {note}" for note in verdict.notes), ""]
    return lines
