"""The verdict of a comparison as statistics: paired differences over seeds and photos, with intervals that say how sure.

Two arms A and B (e.g. two colour spaces of one family) are scored on one metric as arrays shaped (seeds, photos): row s
of A and row s of B are runs with the same seed, column p is the same held-out photo. For each pair of arms and each
metric this module gives

- the mean paired difference A - B with an interval from a two-level bootstrap (Bouthillier et al. 2021, "Accounting
  for variance in machine learning benchmarks": seeds and photos both vary);
- the probability of improvement (Agarwal et al. 2021, "Deep RL at the edge of the statistical precipice", as in
  rliable): the probability that A scores better than B on a random photo and seed, ties counting half, with its
  interval from the same resamples;
- a two-sided bootstrap p-value, and Holm's step-down correction over every comparison of one report;
- a sentence whose words follow those numbers.

The bootstrap. Each resample draws seeds with replacement, then photos with replacement, and scores every drawn seed
on the same drawn photos, for A and B alike: a photo's difficulty is shared by all seeds (every run is scored on the
same photos), so drawing photos anew per seed would treat the held-out set as seeds x photos independent photos and
understate how much the verdict depends on which photos were held out. A resample is a pair of count vectors (how often
each seed and each photo was drawn), so the resampled means are two matrix products: 10k resamples of 3 seeds x 54
photos take tens of milliseconds. `scipy.stats.bootstrap` resamples one axis (with `paired=True`, the same indices for every
sample): with one seed this module's bootstrap is that paired bootstrap over photos (the tests check they agree), but
scipy cannot express the second level, hence the numpy here. Intervals are percentile intervals: BCa's acceleration
needs a jackknife over one kind of unit, which a two-level design does not have.

Which intervals, and why they agree with the decision. A comparison rejects "no difference" when its Holm-adjusted
p-value is at most alpha. Each row reports the percentile interval at level 1 - alpha (95%) and, for reading several
rows at once, the simultaneous interval at the Bonferroni level 1 - alpha/m. Holm's adjusted p-value is never below the
raw one, and a raw p <= alpha (with the +1 correction) puts zero outside the 1 - alpha percentile interval, so a
rejected comparison's 95% interval always excludes zero. The other way round holds up to the resolution of the
resamples: a Bonferroni interval that clears zero by more than a resample or two means a Holm rejection (Holm rejects
at least what Bonferroni does), while Holm may reject a comparison whose Bonferroni interval still touches zero. The
smallest p-value is 2/(resamples + 1), so `correct` asks for at least 2m/alpha resamples.

Limits. With few seeds (2 or 3) the seed level of the bootstrap has few distinct resamples and understates the spread
over seeds once the seeds' share of the variance of the mean is about the photos' or more (docs/experiments.md gives
measured coverages); with one seed the interval is over photos alone and is marked blind to seed variance.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import combinations

import numpy as np
from numpy.typing import ArrayLike
from scipy.stats import norm

GOALS = ("min", "max")
POWER = 0.8  # the power at which `Verdict.budget_factor` sizes the budget needed
BUDGET_SHOWN = 100  # beyond this factor a sentence says "more than" instead of a count nobody will run


@dataclass(frozen=True)
class Comparison:
    """Arm ``a`` against arm ``b`` on one metric, before any correction for the number of comparisons.

    ``difference`` is the mean of A - B over the (seed, photo) pairs where both have a score; ``draws`` holds its
    bootstrap resamples and ``better_draws`` those of ``p_better``.
    """

    group: str
    metric: str
    goal: str
    a: str
    b: str
    seeds: int
    photos: int
    pairs: int
    difference: float
    standard_error: float
    p_value: float
    p_better: float
    draws: np.ndarray = field(repr=False, compare=False)
    better_draws: np.ndarray = field(repr=False, compare=False)
    notes: tuple[str, ...] = ()

    @property
    def blind_to_seed_variance(self) -> bool:
        return self.seeds == 1

    def interval(self, level: float = 0.95) -> tuple[float, float]:
        """The percentile interval of A - B at ``level``."""
        return _percentile_interval(self.draws, level)

    def better_interval(self, level: float = 0.95) -> tuple[float, float]:
        """The percentile interval of the probability that A scores better than B."""
        return _percentile_interval(self.better_draws, level)


def _percentile_interval(draws: np.ndarray, level: float) -> tuple[float, float]:
    tail = (1 - level) / 2
    low, high = np.quantile(draws, [tail, 1 - tail])
    return float(low), float(high)


def _scores(x: ArrayLike, name: str, metric: str) -> np.ndarray:
    array = np.asarray(x, dtype=float)
    if array.ndim != 2 or array.size == 0:
        raise ValueError(
            f"{metric}: {name}'s scores have shape {array.shape}, expected a non-empty (seeds, photos) array; "
            "for one seed pass shape (1, photos)"
        )
    return array


def paired_bootstrap(
    a: ArrayLike,
    b: ArrayLike,
    *,
    goal: str,
    metric: str = "metric",
    names: tuple[str, str] = ("A", "B"),
    group: str = "",
    resamples: int = 10_000,
    seed: int = 0,
) -> Comparison:
    """Compare paired scores ``a`` and ``b``, each shaped (seeds, photos), on a metric whose ``goal`` is "min" or "max".

    A pair where either score is NaN is left out (``notes`` says how many); resamples: see the module's docstring.
    ``seed`` seeds numpy's Generator, so the same call gives the same numbers.
    """
    if goal not in GOALS:
        raise ValueError(f"{metric}: goal={goal!r} is not one of {GOALS} (min: lower is better, max: higher is better)")
    if resamples < 1:
        raise ValueError(f"{metric}: resamples={resamples} must be at least 1")
    name_a, name_b = names
    x, y = _scores(a, name_a, metric), _scores(b, name_b, metric)
    if x.shape != y.shape:
        raise ValueError(
            f"{metric}: {name_a}'s scores have shape {x.shape} and {name_b}'s {y.shape}, but pairing by seed and photo "
            "needs equal (seeds, photos) shapes: score both arms on the same photos and keep only the seeds both have"
        )
    valid = ~(np.isnan(x) | np.isnan(y))
    if not valid.any():
        raise ValueError(f"{metric}: {name_a} and {name_b} have no (seed, photo) pair where both have a score (all NaN)")
    notes = []
    if not valid.all():
        notes.append(
            f"{metric}, {name_a} vs {name_b}: {valid.size - valid.sum()} of {valid.size} (seed, photo) pairs "
            "left out where a score is missing"
        )
    mask = valid.astype(float)
    difference = np.where(valid, x - y, 0.0)
    wins = np.where(valid, np.sign(y - x if goal == "min" else x - y) / 2 + 0.5, 0.0)  # 1 better, 0.5 tie, 0 worse

    n_seeds, n_photos = x.shape
    rng = np.random.default_rng(seed)
    seed_counts, photo_counts = _counts(rng, n_seeds, resamples), _counts(rng, n_photos, resamples)
    # The sum over drawn seeds and photos of each value: sum_s,p seeds[r,s] photos[r,p] value[s,p], one matrix product.
    values = np.stack([mask, difference, wins])
    sums = np.einsum("rvs,rs->rv", (photo_counts @ values.reshape(-1, n_photos).T).reshape(resamples, 3, n_seeds), seed_counts)
    weight, drawn = sums[:, 0], sums[:, 0] > 0  # a resample can draw only missing pairs: it has no mean
    draws = sums[drawn, 1] / weight[drawn]
    better_draws = sums[drawn, 2] / weight[drawn]
    below, above = (draws <= 0).sum(), (draws >= 0).sum()
    p_value = min(1.0, 2 * (min(below, above) + 1) / (draws.size + 1))
    return Comparison(
        group=group,
        metric=metric,
        goal=goal,
        a=name_a,
        b=name_b,
        seeds=int(valid.any(axis=1).sum()),
        photos=int(valid.any(axis=0).sum()),
        pairs=int(valid.sum()),
        difference=float(difference.sum() / mask.sum()),
        standard_error=float(draws.std(ddof=1)) if draws.size > 1 else math.nan,
        p_value=float(p_value),
        p_better=float(wins.sum() / mask.sum()),
        draws=draws,
        better_draws=better_draws,
        notes=tuple(notes),
    )


def _counts(rng: np.random.Generator, n: int, resamples: int) -> np.ndarray:
    """How often each of n units is drawn in each resample of n draws with replacement, shaped (resamples, n)."""
    drawn = rng.integers(0, n, size=(resamples, n)) + n * np.arange(resamples)[:, None]
    return np.bincount(drawn.ravel(), minlength=resamples * n).reshape(resamples, n).astype(float)


def holm(p_values: ArrayLike) -> np.ndarray:
    """Holm's step-down adjusted p-values, in the order given: the i-th smallest p times (m - i + 1), made
    non-decreasing in that order and capped at 1. Rejecting where the adjusted p <= alpha controls the family-wise
    error rate at alpha (Holm 1979)."""
    p = np.asarray(p_values, dtype=float)
    order = np.argsort(p, kind="stable")
    stepped = np.maximum.accumulate(p[order] * (p.size - np.arange(p.size)))
    adjusted = np.empty_like(p)
    adjusted[order] = np.minimum(stepped, 1.0)
    return adjusted


@dataclass(frozen=True)
class Verdict:
    """A comparison with its decision, corrected for the ``family_size`` comparisons of its report."""

    comparison: Comparison
    p_holm: float
    rejected: bool
    alpha: float
    family_size: int

    def interval(self) -> tuple[float, float]:
        """The percentile interval of A - B at 1 - alpha: it excludes zero whenever the comparison is rejected."""
        return self.comparison.interval(1 - self.alpha)

    def simultaneous_interval(self) -> tuple[float, float]:
        """The interval of A - B at the Bonferroni level 1 - alpha/m: all m of them hold together at 1 - alpha."""
        return self.comparison.interval(1 - self.alpha / self.family_size)

    @property
    def budget_factor(self) -> float:
        """Roughly how many times this many seeds or photos would detect a difference of the size observed.

        ((z_{1-alpha'/2} + z_power) * SE / |d|)^2 with alpha' = alpha/m (Holm's strictest step), assuming the
        standard error SE shrinks as 1/sqrt(n) in the number of seeds or photos, and the observed difference d is
        the true one. Infinite when d is zero.
        """
        c = self.comparison
        if c.difference == 0:
            return math.inf
        z = norm.ppf(1 - self.alpha / self.family_size / 2) + norm.ppf(POWER)
        return float((z * c.standard_error / abs(c.difference)) ** 2)

    def sentence(self, label: str | None = None) -> str:
        """The verdict in words, e.g. "lab better than luv in ΔE2000 by 0.31 [0.12, 0.50] (P(better) 0.62)"."""
        c = self.comparison
        label = label or c.metric
        digits = _digits(c.standard_error)
        low, high = self.interval()
        blind = "; one seed: the interval is over photos only, blind to seed variance" if c.blind_to_seed_variance else ""
        if self.rejected:
            a_better = (c.difference < 0) == (c.goal == "min")
            sign = 1 if a_better == (c.goal == "max") else -1  # the gain of the better arm in its own direction
            winner, loser = (c.a, c.b) if a_better else (c.b, c.a)
            p_better = c.p_better if a_better else 1 - c.p_better
            gain = sorted((sign * low, sign * high))
            return (
                f"{winner} better than {loser} in {label} by {fixed(abs(c.difference), digits)} "
                f"[{fixed(gain[0], digits)}, {fixed(gain[1], digits)}] (P(better) {p_better:.2f}){blind}"
            )
        said = (
            f"{c.a} vs {c.b} in {label}: no difference detected at this budget "
            f"({c.a} − {c.b} = {fixed(c.difference, digits)} [{fixed(low, digits)}, {fixed(high, digits)}], "
            f"{c.seeds} seed{'s' if c.seeds > 1 else ''} × {c.photos} photos)"
        )
        factor = self.budget_factor
        if math.isinf(factor):
            need = "; the observed difference is zero"
        elif factor <= 1:
            need = "; a difference of this size is at the edge of detection at this budget"
        elif factor > BUDGET_SHOWN:
            need = (
                f"; a difference of this size would take more than {BUDGET_SHOWN}× as many "
                f"{'photos' if c.blind_to_seed_variance else 'seeds or photos'} to detect"
            )
        else:
            more = f"~{math.ceil(c.photos * factor)} photos"
            if not c.blind_to_seed_variance:
                more = f"~{math.ceil(c.seeds * factor)} seeds or {more}"
            need = (
                f"; to detect a difference of {abs(c.difference):.{digits}f} would take roughly {factor:.0f}× as many "
                f"{'photos' if c.blind_to_seed_variance else 'seeds or photos'} ({more}, "
                f"assuming the standard error shrinks as 1/√n; {POWER:.0%} power at α = {self.alpha:g}/{self.family_size})"
            )
        return said + need + blind

    def row(self, label: str | None = None) -> dict[str, object]:
        """Plain values for CSV, markdown and W&B."""
        c = self.comparison
        low, high = self.interval()
        sim_low, sim_high = self.simultaneous_interval()
        better_low, better_high = c.better_interval(1 - self.alpha)
        return {
            "group": c.group,
            "metric": c.metric,
            "goal": c.goal,
            "a": c.a,
            "b": c.b,
            "seeds": c.seeds,
            "photos": c.photos,
            "pairs": c.pairs,
            "difference": c.difference,
            "low": low,
            "high": high,
            "simultaneous_low": sim_low,
            "simultaneous_high": sim_high,
            "standard_error": c.standard_error,
            "p_better": c.p_better,
            "p_better_low": better_low,
            "p_better_high": better_high,
            "p_value": c.p_value,
            "p_holm": self.p_holm,
            "rejected": self.rejected,
            "blind_to_seed_variance": c.blind_to_seed_variance,
            "budget_factor": self.budget_factor,
            "resamples": int(c.draws.size),
            "verdict": self.sentence(label),
        }


def fixed(value: float, digits: int, sign: bool = False) -> str:
    """``value`` at ``digits`` decimals, never "-0.00": a value that rounds to zero, whatever its sign, is 0.00 (+0.00
    with ``sign``)."""
    text = f"{value:{'+' if sign else ''}.{digits}f}"
    return ("+" if sign else "") + text.lstrip("+-") if float(text) == 0 else text


def _digits(standard_error: float) -> int:
    """Decimals that show two significant digits of the standard error."""
    if not standard_error > 0:
        return 2
    return min(6, max(0, 1 - math.floor(math.log10(standard_error))))


@dataclass(frozen=True)
class Table:
    """Every comparison of one report with its Holm decision; ``rows()`` and ``markdown_table()`` render it."""

    verdicts: list[Verdict]
    alpha: float

    def rows(self, labels: Mapping[str, str] | None = None) -> list[dict[str, object]]:
        labels = labels or {}
        return [v.row(labels.get(v.comparison.metric)) for v in self.verdicts]

    def sentences(self, labels: Mapping[str, str] | None = None) -> list[str]:
        labels = labels or {}
        return [v.sentence(labels.get(v.comparison.metric)) for v in self.verdicts]

    def notes(self) -> list[str]:
        return [note for v in self.verdicts for note in v.comparison.notes]

    def markdown_table(self, labels: Mapping[str, str] | None = None) -> str:
        """A markdown table, one row per comparison, and a line saying how the numbers were made."""
        labels = labels or {}
        m, level = len(self.verdicts), 1 - self.alpha
        lines = [
            f"| group | metric | A | B | A − B [{level:.0%}] | [simultaneous {1 - self.alpha / max(m, 1):.2%}] "
            f"| P(A better) [{level:.0%}] | p | p (Holm) | seeds × photos |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for v in self.verdicts:
            c, row = v.comparison, v.row(labels.get(v.comparison.metric))
            d, bold = _digits(c.standard_error), "**" if v.rejected else ""
            budget = f"{c.seeds} × {c.photos}{' (blind to seeds)' if c.blind_to_seed_variance else ''}"
            lines.append(
                f"| {c.group} | {labels.get(c.metric, c.metric)} ({c.goal}) | {c.a} | {c.b} "
                f"| {bold}{fixed(c.difference, d)} [{fixed(row['low'], d)}, {fixed(row['high'], d)}]{bold} "
                f"| [{fixed(row['simultaneous_low'], d)}, {fixed(row['simultaneous_high'], d)}] "
                f"| {c.p_better:.2f} [{row['p_better_low']:.2f}, {row['p_better_high']:.2f}] "
                f"| {c.p_value:.3g} | {v.p_holm:.3g} | {budget} |"
            )
        resamples = max((v.comparison.draws.size for v in self.verdicts), default=0)
        lines += [
            "",
            f"Paired differences A − B over the same seeds and photos; intervals from a two-level bootstrap "
            f"({resamples} resamples of seeds, then photos); P(A better): the share of (seed, photo) pairs where A "
            f"scores better, ties half; bold where Holm's correction over these {m} comparisons rejects "
            f'"no difference" at α = {self.alpha:g}.',
        ]
        return "\n".join(lines)


def correct(comparisons: Sequence[Comparison], alpha: float = 0.05) -> Table:
    """Decide every comparison of one report together: Holm's step-down over all of them at family-wise ``alpha``."""
    if not 0 < alpha < 1:
        raise ValueError(f"alpha={alpha} must be between 0 and 1 (e.g. 0.05)")
    m = len(comparisons)
    too_few = [f"{c.metric} {c.a} vs {c.b}" for c in comparisons if 2 * m / (c.draws.size + 1) > alpha]
    if too_few:
        raise ValueError(
            f"{too_few[0]}{' and others' if len(too_few) > 1 else ''}: too few resamples for Holm over {m} comparisons "
            f"at alpha={alpha} to reject anything: use resamples >= {math.ceil(2 * m / alpha)}"
        )
    adjusted = holm([c.p_value for c in comparisons])
    verdicts = [Verdict(c, float(p), bool(p <= alpha), alpha, m) for c, p in zip(comparisons, adjusted, strict=True)]
    return Table(verdicts, alpha)


def pairwise(
    scores: Mapping[str, Mapping[str, ArrayLike]],
    goals: Mapping[str, str],
    *,
    group: str = "",
    resamples: int = 10_000,
    seed: int = 0,
) -> list[Comparison]:
    """Every pair of arms on every metric: ``scores[metric][arm]`` is a (seeds, photos) array, ``goals[metric]``
    "min" or "max". Pairs follow the arms' order (the first named is A). Pass the comparisons of a whole report,
    every group's, to `correct` at once."""
    missing = [metric for metric in scores if metric not in goals]
    if missing:
        raise ValueError(f"no goal for {missing}: give each metric 'min' (lower is better) or 'max' in goals")
    return [
        paired_bootstrap(
            arms[a], arms[b], goal=goals[metric], metric=metric, names=(a, b), group=group, resamples=resamples, seed=seed
        )
        for metric, arms in scores.items()
        for a, b in combinations(arms, 2)
    ]
