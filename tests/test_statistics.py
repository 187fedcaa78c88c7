"""The verdict's statistics against known answers: planted differences, none, pairing, probability of improvement, Holm."""

import math
import re

import numpy as np
import pytest
from scipy import stats

from colorize.reports.statistics import Comparison, correct, fixed, holm, paired_bootstrap, pairwise

SEEDS, PHOTOS = 3, 54


def scores(rng, delta=0.0, seeds=SEEDS, photos=PHOTOS, seed_sd=0.05, photo_sd=0.3, noise_sd=0.3, difficulty_sd=2.0):
    """Paired scores A and B with A - B = delta + seed effect + photo effect + noise; both arms share each photo's
    difficulty (large, as photos differ far more than colour spaces do), which cancels in the pairing. The seed effect
    is small beside the photos': where it dominates, 3 seeds give too narrow an interval (docs/experiments.md)."""
    difficulty = rng.normal(10, difficulty_sd, photos)
    b = difficulty + rng.normal(0, noise_sd, (seeds, photos))
    a = (
        b
        + delta
        + rng.normal(0, seed_sd, (seeds, 1))
        + rng.normal(0, photo_sd, photos)
        + rng.normal(0, noise_sd, (seeds, photos))
    )
    return a, b


@pytest.mark.parametrize("goal", ["min", "max"])
def test_a_planted_difference_is_detected_with_the_right_sign(goal):
    """20 data sets with A - B = 0.5 (about 8 standard errors): each detected, the better arm named, its gain positive;
    the 95% interval covers 0.5 in about 19 of 20."""
    covered = 0
    for data_seed in range(20):
        a, b = scores(np.random.default_rng(data_seed), delta=0.5)
        comparison = paired_bootstrap(a, b, goal=goal, metric="delta_e", names=("lab", "luv"), resamples=2000)
        low, high = comparison.interval()
        assert comparison.difference > 0 and low > 0
        covered += low <= 0.5 <= high
        verdict = correct([comparison]).verdicts[0]
        assert verdict.rejected
        winner, loser = ("luv", "lab") if goal == "min" else ("lab", "luv")
        said = verdict.sentence("ΔE2000")
        assert said.startswith(f"{winner} better than {loser} in ΔE2000 by ")
        # The better arm's gain is positive, in an interval of positive gains, with its own P(better) above one half.
        gain = float(said.split(" by ")[1].split(" ")[0])
        gain_low, gain_high = (float(x) for x in said.split("[")[1].split("]")[0].split(", "))
        assert 0 < gain_low <= gain <= gain_high and float(said.split("(P(better) ")[1].rstrip(")")) > 0.5
    assert covered >= 16


def test_with_no_difference_the_interval_covers_zero_about_95_percent_of_the_time():
    """200 data sets with seed, photo and noise effects but no difference: the 95% interval should cover zero in about
    190 (binomial sd about 3). The photo effect is shared by the seeds, so a bootstrap that drew photos anew per seed
    would count it as 162 independent photos and cover far less often (163 of these 200)."""
    rng = np.random.default_rng(0)
    covered = 0
    for i in range(200):
        a, b = scores(rng)
        low, high = paired_bootstrap(a, b, goal="min", resamples=1000, seed=i).interval()
        covered += low <= 0 <= high
    assert 176 <= covered <= 198


def test_pairing_narrows_the_interval_when_photos_differ_much_more_than_the_arms():
    a, b = scores(np.random.default_rng(1), delta=0.1)
    low, high = paired_bootstrap(a, b, goal="min", resamples=5000).interval()
    unpaired = stats.bootstrap(
        (a.ravel(), b.ravel()),
        lambda x, y, axis: x.mean(axis=axis) - y.mean(axis=axis),
        paired=False,
        method="percentile",
        n_resamples=5000,
        rng=np.random.default_rng(0),
    ).confidence_interval
    assert high - low < 0.5 * (unpaired.high - unpaired.low)


def test_with_one_seed_it_is_scipys_paired_bootstrap_over_photos_and_says_it_is_blind_to_seeds():
    a, b = scores(np.random.default_rng(2), seeds=1, delta=0.05)
    comparison = paired_bootstrap(a, b, goal="min", metric="psnr", resamples=20_000)
    ours = comparison.interval()
    scipys = stats.bootstrap(
        (a[0], b[0]),
        lambda x, y, axis: (x - y).mean(axis=axis),
        paired=True,
        method="percentile",
        n_resamples=20_000,
        rng=np.random.default_rng(0),
    )
    assert comparison.blind_to_seed_variance and ours[0] < comparison.difference < ours[1]
    assert comparison.standard_error == pytest.approx(scipys.standard_error, rel=0.05)
    tolerance = 0.1 * comparison.standard_error  # Monte Carlo error of a 2.5% quantile of 20k resamples is about 0.02 SE
    assert ours == pytest.approx(tuple(scipys.confidence_interval), abs=tolerance)
    assert "blind to seed variance" in correct([comparison]).verdicts[0].sentence()
    assert not paired_bootstrap(*scores(np.random.default_rng(2)), goal="min", resamples=10).blind_to_seed_variance


def test_probability_of_improvement():
    rng = np.random.default_rng(3)
    b = rng.normal(size=(SEEDS, PHOTOS))
    always = paired_bootstrap(b - 1, b, goal="min", resamples=200)
    assert always.p_better == 1.0 and always.better_interval() == (1.0, 1.0)
    assert paired_bootstrap(b - 1, b, goal="max", resamples=200).p_better == 0.0
    same = paired_bootstrap(b, b, goal="max", resamples=200)
    assert same.p_better == 0.5 and same.difference == 0 and same.p_value == 1.0
    # Half the pairs tied, half won by A: ties count half.
    a = np.where(np.arange(PHOTOS) % 2 == 0, b, b + 1)
    assert paired_bootstrap(a, b, goal="max", resamples=200).p_better == pytest.approx(0.75)
    assert paired_bootstrap(a, b, goal="min", resamples=200).p_better == pytest.approx(0.25)


def test_holm_against_hand_computed_adjusted_p_values():
    # Sorted: 0.005*4 = 0.02, 0.01*3 = 0.03, 0.03*2 = 0.06, 0.04*1 = 0.04 -> 0.06 (never below the step before).
    np.testing.assert_allclose(holm([0.01, 0.04, 0.03, 0.005]), [0.03, 0.06, 0.06, 0.02])
    # Sorted: 0.01*3 = 0.03, 0.6*2 = 1.2 -> 1, 0.7*1 = 0.7 -> 1.2 -> 1 (capped at 1).
    np.testing.assert_allclose(holm([0.7, 0.6, 0.01]), [1.0, 1.0, 0.03])
    np.testing.assert_allclose(holm([0.02]), [0.02])


def test_holm_decides_the_whole_report_and_a_rejection_always_has_an_interval_that_excludes_zero():
    rng = np.random.default_rng(4)
    comparisons = [
        paired_bootstrap(*scores(rng, delta=delta), goal="min", metric=f"m{i}", resamples=1000, seed=i)
        for i, delta in enumerate(np.linspace(0, 0.25, 24))
    ]
    table = correct(comparisons)
    raw = np.array([c.p_value for c in comparisons])
    decided = np.array([v.rejected for v in table.verdicts])
    assert decided.any() and not decided.all()
    assert ((raw <= 0.05) & ~decided).any(), "some comparison significant alone should not survive the correction"
    np.testing.assert_array_equal(decided, holm(raw) <= 0.05)
    for verdict in table.verdicts:
        low, high = verdict.interval()
        sim_low, sim_high = verdict.simultaneous_interval()
        assert sim_low <= low <= high <= sim_high
        if verdict.rejected:
            assert not low <= 0 <= high
            assert "better than" in verdict.sentence()
        else:
            assert "no difference detected at this budget" in verdict.sentence()


def test_the_budget_needed_detects_a_difference_of_that_size_about_80_percent_of_the_time():
    """One seed, photo differences with sd 1: make the observed difference exactly 0.1, ask how many photos would
    detect it, then draw 40 data sets of that many photos with a true difference of 0.1: about 80% are detected."""
    rng = np.random.default_rng(5)
    noise = rng.normal(0, 1, (1, 50))
    small = paired_bootstrap(noise - noise.mean() + 0.1, np.zeros((1, 50)), goal="max", resamples=2000)
    verdict = correct([small]).verdicts[0]
    assert not verdict.rejected and "no difference detected at this budget" in verdict.sentence()
    photos = math.ceil(50 * verdict.budget_factor)
    assert f"~{photos} photos" in verdict.sentence()
    detected = sum(
        correct([paired_bootstrap(rng.normal(0.1, 1, (1, photos)), np.zeros((1, photos)), goal="max", resamples=1000)])
        .verdicts[0]
        .rejected
        for _ in range(40)
    )
    assert 24 <= detected <= 38


def test_missing_scores_are_left_out_pairwise_with_a_note():
    a, b = scores(np.random.default_rng(6))
    a[0, 3] = b[2, 7] = np.nan
    comparison = paired_bootstrap(a, b, goal="min", metric="lpips", names=("lab", "luv"), resamples=500)
    assert comparison.pairs == SEEDS * PHOTOS - 2 and comparison.photos == PHOTOS and comparison.seeds == SEEDS
    assert comparison.difference == pytest.approx(np.nanmean(a - b))
    assert comparison.notes == ("lpips, lab vs luv: 2 of 162 (seed, photo) pairs left out where a score is missing",)
    assert correct([comparison]).notes() == list(comparison.notes)
    a[1] = np.nan  # a run without the metric: its seed drops out
    assert paired_bootstrap(a, b, goal="min", resamples=50).seeds == SEEDS - 1
    with pytest.raises(ValueError, match="no \\(seed, photo\\) pair where both have a score"):
        paired_bootstrap(np.full((2, 5), np.nan), np.ones((2, 5)), goal="min")


def test_bad_input_gets_a_clear_error():
    with pytest.raises(ValueError, match=r"lab's scores have shape \(3, 54\) and luv's \(2, 54\).*keep only the seeds both have"):
        paired_bootstrap(np.ones((3, 54)), np.ones((2, 54)), goal="min", names=("lab", "luv"))
    with pytest.raises(ValueError, match=r"shape \(54,\), expected a non-empty \(seeds, photos\) array; for one seed"):
        paired_bootstrap(np.ones(54), np.ones(54), goal="min")
    with pytest.raises(ValueError, match="goal='lower' is not one of"):
        paired_bootstrap(np.ones((1, 5)), np.ones((1, 5)), goal="lower")
    with pytest.raises(ValueError, match=r"too few resamples for Holm over 2 comparisons at alpha=0.05.*resamples >= 80"):
        correct([paired_bootstrap(np.ones((1, 5)), np.ones((1, 5)), goal="min", resamples=50)] * 2)
    with pytest.raises(ValueError, match=r"no goal for \['ssim'\]"):
        pairwise({"ssim": {"lab": np.ones((1, 5)), "luv": np.ones((1, 5))}}, {"psnr": "max"})


def test_the_same_seed_gives_the_same_numbers():
    a, b = scores(np.random.default_rng(7))
    first, again = (paired_bootstrap(a, b, goal="min", resamples=300, seed=1) for _ in range(2))
    np.testing.assert_array_equal(first.draws, again.draws)
    assert not np.array_equal(first.draws, paired_bootstrap(a, b, goal="min", resamples=300, seed=2).draws)


def test_a_table_of_every_pair_and_metric_renders_as_plain_rows_and_markdown():
    rng = np.random.default_rng(8)
    arms = dict(zip(["lab", "luv", "oklab"], scores(rng, delta=0.5) + (scores(rng)[0],), strict=True))
    comparisons = pairwise(
        {"delta_e": arms, "psnr": {name: -x for name, x in arms.items()}},
        {"delta_e": "min", "psnr": "max"},
        group="cnn",
        resamples=500,
    )
    assert all(isinstance(c, Comparison) for c in comparisons)
    assert [(c.metric, c.a, c.b) for c in comparisons] == [
        (m, a, b) for m in ("delta_e", "psnr") for a, b in (("lab", "luv"), ("lab", "oklab"), ("luv", "oklab"))
    ]
    table = correct(comparisons)
    rows = table.rows({"delta_e": "ΔE2000"})
    assert len(rows) == 6 and all(type(v) in (str, int, float, bool) for row in rows for v in row.values())
    assert rows[0]["verdict"].startswith("luv better than lab in ΔE2000 by") and rows[0]["group"] == "cnn"
    assert rows[3]["verdict"].startswith("luv better than lab in psnr by")  # the same gap, read the other way round
    markdown = table.markdown_table({"delta_e": "ΔE2000"}).splitlines()
    assert len(markdown) == 2 + 6 + 2 and markdown[2].startswith("| cnn | ΔE2000 (min) | lab | luv | **")
    assert "Holm's correction over these 6 comparisons" in markdown[-1]


def test_a_budget_beyond_any_practical_one_is_said_as_more_than_a_hundredfold():
    rng = np.random.default_rng(7)
    noise = rng.normal(0, 1, (3, 50))
    tiny = paired_bootstrap(noise - noise.mean() + 1e-4, np.zeros((3, 50)), goal="max", resamples=1000)
    verdict = correct([tiny]).verdicts[0]
    assert verdict.budget_factor > 100 and "would take more than 100× as many seeds or photos to detect" in verdict.sentence()


def test_no_number_is_written_as_minus_zero():
    assert [fixed(v, 2) for v in (-0.004, 0.004, -0.0, -0.006, 1.234)] == ["0.00", "0.00", "0.00", "-0.01", "1.23"]
    assert [fixed(v, 2, sign=True) for v in (-0.004, 0.004, 0.006, -0.006)] == ["+0.00", "+0.00", "+0.01", "-0.01"]
    # A verdict whose difference rounds to zero from below says 0.00, in its sentence and in its table.
    a = np.array([[1.0, 2.0, 3.0]])
    table = correct([paired_bootstrap(a - 0.001, a + np.array([[0.0, 0.001, -0.001]]), goal="max", metric="m")])
    minus_zero = re.compile(r"-0\.0+(?!\d)")
    assert not minus_zero.search(table.sentences()[0]) and not minus_zero.search(table.markdown_table())
    assert "[-0.00200, 0.00000]" in table.sentences()[0]
