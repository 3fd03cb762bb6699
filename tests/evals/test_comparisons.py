"""Paired comparisons: every statistic against a well-kept implementation, a worked example by hand,
and the properties any paired test must have."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from evals.comparisons import (
    clustered_variance,
    holm_reject,
    mcnemar_exact,
    mean_correlation,
    mean_covariances,
    minimum_detectable_difference,
    paired_bootstrap,
    paired_difference,
    rank_ranges,
)
from evals.site.reference_pages import EXAMPLE_A, EXAMPLE_B, EXAMPLE_CLUSTERS

sm = pytest.importorskip("statsmodels.api", reason="statsmodels is a dev dependency (pip install -e .[dev])")
from statsmodels.stats.contingency_tables import mcnemar  # noqa: E402
from statsmodels.stats.multitest import multipletests  # noqa: E402
from statsmodels.stats.power import NormalIndPower  # noqa: E402


def _correlated(n: int, seed: int, clusters: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two models' 0/1 results on n items sharing item difficulty (and a cluster effect), and the clusters."""
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, clusters, n) if clusters else np.arange(n)
    difficulty = rng.normal(0, 1, n) + (rng.normal(0, 1, codes.max() + 1)[codes] if clusters else 0)
    a = (rng.random(n) < 1 / (1 + np.exp(difficulty - 0.3))).astype(float)
    b = (rng.random(n) < 1 / (1 + np.exp(difficulty))).astype(float)
    return a, b, codes


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_mcnemar_equals_statsmodels_exact(seed: int) -> None:
    a, b, _ = _correlated(150 + 40 * seed, seed)
    table = [
        [np.sum((a == 1) & (b == 1)), np.sum((a == 1) & (b == 0))],
        [np.sum((a == 0) & (b == 1)), np.sum((a == 0) & (b == 0))],
    ]
    ours = paired_difference(a, b)
    assert ours.test == "exact McNemar"
    assert ours.only_a == table[0][1] and ours.only_b == table[1][0]
    assert ours.p_value == pytest.approx(mcnemar(table, exact=True).pvalue, rel=1e-12)


@pytest.mark.parametrize(("only_a", "only_b"), [(0, 0), (5, 0), (7, 7), (30, 12), (1000, 1100)])
def test_mcnemar_counts_equal_statsmodels(only_a: int, only_b: int) -> None:
    expected = mcnemar([[10, only_a], [only_b, 10]], exact=True).pvalue
    assert mcnemar_exact(only_a, only_b) == pytest.approx(expected if only_a + only_b else 1.0, rel=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_clustered_error_equals_statsmodels_ols_cluster(seed: int) -> None:
    a, b, codes = _correlated(400, seed, clusters=60)
    for values in (a, a - b, np.random.default_rng(seed).random(400)):
        fit = sm.OLS(values, np.ones(values.size)).fit(cov_type="cluster", cov_kwds={"groups": codes})
        assert clustered_variance(values, list(codes)) == pytest.approx(fit.bse[0] ** 2, rel=1e-10)
    # every item its own cluster: OLS's ordinary error, s^2 / n
    fit = sm.OLS(a - b, np.ones(a.size)).fit()
    assert clustered_variance(a - b) == pytest.approx(fit.bse[0] ** 2, rel=1e-10)
    paired = paired_difference(a, b, list(codes))
    robust = sm.OLS(a - b, np.ones(a.size)).fit(cov_type="cluster", cov_kwds={"groups": codes})
    assert paired.se == pytest.approx(robust.bse[0], rel=1e-10)
    assert paired.test == "paired z (clustered)"
    assert paired.p_value == pytest.approx(2 * stats.norm.sf(abs(robust.params[0]) / robust.bse[0]), rel=1e-9)


def test_all_pairs_covariances_give_each_pairs_paired_variance() -> None:
    rng = np.random.default_rng(5)
    codes = rng.integers(0, 30, 120)
    values = (rng.random((6, 120)) < 0.6).astype(float)
    cov = mean_covariances(values, codes)
    for i in range(6):
        for j in range(6):
            direct = clustered_variance(values[i] - values[j], list(codes))
            assert cov[i, i] + cov[j, j] - 2 * cov[i, j] == pytest.approx(direct, abs=1e-15)


@pytest.mark.parametrize("seed", [0, 4])
def test_paired_bootstrap_equals_scipy(seed: int) -> None:
    rng = np.random.default_rng(seed)
    a, b = rng.random(300), rng.random(300) * 0.9  # continuous per-item values, as mc2's
    ours = paired_bootstrap(a, b, n_resamples=3000, seed=seed)
    theirs = stats.bootstrap(
        (a - b,), np.mean, n_resamples=3000, method="percentile", rng=np.random.default_rng(seed)
    ).confidence_interval
    assert ours == pytest.approx((theirs.low, theirs.high), rel=1e-12)
    # and the analytic paired interval agrees with it
    analytic = paired_difference(a, b)
    assert analytic.ci_low == pytest.approx(ours[0], abs=0.01) and analytic.ci_high == pytest.approx(ours[1], abs=0.01)


def test_worked_example_by_hand() -> None:
    # d = 0 1 1 0 0 0 0 1: mean 3/8; sum of squared deviations 3 (5/8)^2 + 5 (3/8)^2 = 120/64
    naive = paired_difference(EXAMPLE_A, EXAMPLE_B)
    assert naive.difference == 3 / 8
    assert naive.se == pytest.approx(math.sqrt(120 / 64 / 7 / 8))
    assert (naive.only_a, naive.only_b) == (3, 0)
    assert naive.p_value == pytest.approx(2 * (1 / 2) ** 3)  # 2 P(X <= 0), X ~ Bin(3, 1/2)
    # clusters p1 = (0 1 1), p2 = (0 0), p3 = (0 0 1): centred sums 7/8, -6/8, -1/8; G = 3
    clustered = paired_difference(EXAMPLE_A, EXAMPLE_B, EXAMPLE_CLUSTERS)
    assert clustered.se**2 == pytest.approx(3 / 2 * (49 + 36 + 1) / 64 / 64)
    assert clustered.clusters == 3 and clustered.naive_se == pytest.approx(naive.se)


def test_a_copy_has_a_zero_width_interval_and_swapping_flips_the_sign() -> None:
    a, b, codes = _correlated(500, 9, clusters=80)
    for clusters in (None, list(codes)):
        self = paired_difference(a, a.copy(), clusters)
        assert self.difference == 0 and self.se == 0 and self.ci_low == self.ci_high == 0 and self.p_value == 1.0
        ab, ba = paired_difference(a, b, clusters), paired_difference(b, a, clusters)
        assert ba.difference == -ab.difference and ba.se == pytest.approx(ab.se)
        assert (ba.ci_low, ba.ci_high) == pytest.approx((-ab.ci_high, -ab.ci_low))
        assert ba.p_value == pytest.approx(ab.p_value) and (ba.only_a, ba.only_b) == (ab.only_b, ab.only_a)
    rng = np.random.default_rng(2)
    values = (rng.random((5, 200)) < 0.5).astype(float)
    values[3] = values[1]  # an exact copy
    cov = mean_covariances(values)
    se = np.sqrt(np.clip(np.diag(cov)[:, None] + np.diag(cov)[None, :] - 2 * cov, 0, None))
    assert se[1, 3] == pytest.approx(0.0, abs=1e-12) and np.allclose(se, se.T)


def test_pairing_is_tighter_than_independent_intervals() -> None:
    # Correlated models: the paired error is well below the two independent errors combined.
    rng = np.random.default_rng(3)
    difficulty = rng.normal(0, 2.5, 2000)  # items that are hard for one model are hard for the other
    a = (rng.random(2000) < 1 / (1 + np.exp(difficulty - 0.3))).astype(float)
    b = (rng.random(2000) < 1 / (1 + np.exp(difficulty))).astype(float)
    assert mean_correlation(np.vstack([a, b])) > 0.3
    paired = paired_difference(a, b)
    independent = math.sqrt(clustered_variance(a) + clustered_variance(b))
    assert paired.se < 0.9 * independent


def test_holm_equals_statsmodels_per_row() -> None:
    rng = np.random.default_rng(1)
    p = rng.random((7, 7)) ** 3
    p = (p + p.T) / 2
    reject = holm_reject(p)
    for i in range(7):
        others = [j for j in range(7) if j != i]
        expected = multipletests(p[i, others], alpha=0.05, method="holm")[0]
        assert list(reject[i, others]) == list(expected)
        assert not reject[i, i]


def test_rank_ranges_from_paired_errors() -> None:
    aggregate = np.array([80.0, 79.5, 60.0, 59.9, 20.0])
    se = np.full((5, 5), 0.5)
    np.fill_diagonal(se, 0)
    low, high, _ = rank_ranges(aggregate, se)
    assert list(low) == [1, 1, 3, 3, 5] and list(high) == [2, 2, 4, 4, 5]
    # everything tied: every rank is possible
    low, high, _ = rank_ranges(np.array([50.0, 50.0, 50.0]), np.full((3, 3), 5.0))
    assert list(low) == [1, 1, 1] and list(high) == [3, 3, 3]


def test_minimum_detectable_difference_equals_statsmodels_power() -> None:
    # a paired z-test: one sample of differences with sd sqrt(2 sd^2 (1 - rho))
    for n, rho in ((1172, 0.6), (164, 0.3), (58_492, 0.5)):
        sd_diff = math.sqrt(2 * 0.25 * (1 - rho))
        effect = NormalIndPower().solve_power(nobs1=n, alpha=0.05, power=0.8, ratio=0)
        assert minimum_detectable_difference(n, rho) == pytest.approx(effect * sd_diff, rel=1e-4)
    # models that agreed on every item so far: no smaller than the gap one item makes
    assert minimum_detectable_difference(12, 1.0) == pytest.approx((stats.norm.ppf(0.975) + stats.norm.ppf(0.8)) / 12)
    # the example: 1,172 items and a correlation of 0.6 tell apart 3.7 points
    assert 100 * minimum_detectable_difference(1172, 0.6) == pytest.approx(3.66, abs=0.01)


def test_mean_correlation_of_copies_is_one() -> None:
    rng = np.random.default_rng(0)
    row = (rng.random(100) < 0.5).astype(float)
    assert mean_correlation(np.vstack([row, row, row])) == pytest.approx(1.0)
    assert mean_correlation(row[None, :]) is None
    # two variants of one model are not two models: only pairs across models count
    other = (rng.random(100) < 0.5).astype(float)
    assert mean_correlation(np.vstack([row, row, other]), ["m", "m", "n"]) == pytest.approx(
        np.corrcoef(row, other)[0, 1]
    )
    assert mean_correlation(np.vstack([row, row]), ["m", "m"]) is None
