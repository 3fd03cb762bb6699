"""Paired comparisons of variants that answered the same items: the statistics behind rank ranges.

``evals.scoring``'s docstring states the method (rules 6-8); this module is its
arithmetic, in numpy, with no I/O:

- :func:`clustered_variance` — the variance of a mean of per-item values when
  items share a cluster (Miller 2024, "Adding error bars to evals", eq. 4),
  with statsmodels' small-sample factor G / (G - 1). Every item its own cluster
  gives the textbook s^2 / n (ddof 1), the standard error lm-eval reports.
- :func:`mean_covariances` — the same for every pair of variants at once: the
  covariance matrix of the variants' task means is one matrix product over the
  (variants x clusters) matrix of centred cluster sums. Var(a - b) =
  Var(a) + Var(b) - 2 Cov(a, b) then needs no loop over pairs.
- :func:`paired_difference` — one pair on one task: the mean difference, its
  clustered paired standard error, the 95% interval, the exact McNemar p-value
  for 0/1 items without clusters (a binomial test on the discordant items) and
  a z-test on the clustered error otherwise.
- :func:`paired_bootstrap` — the percentile interval of the mean difference
  over resampled clusters: the check of the analytic interval for continuous
  per-item values (mc2); tests hold it to ``scipy.stats.bootstrap``.
- :func:`holm_reject` and :func:`rank_ranges` — Holm's step-down over each
  variant's comparisons with all the others, and the rank ranges it allows.
- :func:`minimum_detectable_difference` — the smallest true difference a task
  finds 80% of the time at 5% significance (Miller §5).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import special, stats

Z95 = 1.959963984540054  # two-sided 95% normal quantile
ALPHA = 0.05
POWER = 0.80


def cluster_codes(clusters: Sequence[object] | np.ndarray | None, n: int) -> np.ndarray:
    """Integer cluster codes 0..G-1 for ``n`` items; no clusters (or a missing one): each item alone."""
    if clusters is None:
        return np.arange(n)
    labels = np.asarray(clusters, dtype=object)
    if labels.shape != (n,):
        raise ValueError(f"clusters: expected {n} labels, got {labels.shape[0]}")
    codes = np.empty(n, dtype=np.int64)
    seen: dict[object, int] = {}
    for i, label in enumerate(labels):
        key = ("item", i) if label is None else ("cluster", label)
        codes[i] = seen.setdefault(key, len(seen))
    return codes


def _cluster_sums(centred: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """(rows x G) sums of each cluster's centred values (rows x n in)."""
    n_clusters = int(codes.max()) + 1 if codes.size else 0
    if n_clusters == codes.size and np.array_equal(codes, np.arange(codes.size)):
        return centred  # every item its own cluster: the sums are the items
    if np.all(codes[1:] >= codes[:-1]):  # items already in cluster order: no reordered copy of the matrix
        return np.add.reduceat(centred, np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]]), axis=1)
    order = np.argsort(codes, kind="stable")
    sorted_codes = codes[order]
    starts = np.flatnonzero(np.r_[True, sorted_codes[1:] != sorted_codes[:-1]])
    return np.add.reduceat(centred[:, order], starts, axis=1)


def mean_covariances(values: np.ndarray, codes: np.ndarray | None = None) -> np.ndarray:
    """The (V x V) cluster-robust covariance matrix of the row means of ``values`` (V variants x n items).

    ``Cov(mean_a, mean_b) = G / (G - 1) / n^2 * sum_g S_ag S_bg`` with ``S_ag`` the sum over cluster g of
    ``a_i - mean_a``; its diagonal is :func:`clustered_variance` of each row.
    """
    values = np.atleast_2d(np.asarray(values, dtype=np.float64))
    n = values.shape[1]
    if n < 2:
        return np.full((values.shape[0], values.shape[0]), np.nan)
    codes = np.arange(n) if codes is None else codes
    sums = _cluster_sums(values - values.mean(axis=1, keepdims=True), codes)
    g = sums.shape[1]
    if g < 2:
        return np.full((values.shape[0], values.shape[0]), np.nan)
    return (sums @ sums.T) * (g / (g - 1) / n**2)


def clustered_variance(values: Sequence[float] | np.ndarray, clusters: Sequence[object] | None = None) -> float:
    """The cluster-robust variance of the mean of ``values`` (Miller eq. 4, times G / (G - 1))."""
    x = np.asarray(values, dtype=np.float64)
    return float(mean_covariances(x[None, :], cluster_codes(clusters, x.size))[0, 0])


def mcnemar_exact(only_a: np.ndarray | int, only_b: np.ndarray | int) -> np.ndarray | float:
    """The exact (binomial) McNemar p-value from the discordant counts: 2 P(X <= min), X ~ Bin(b + c, 1/2)."""
    b, c = np.asarray(only_a), np.asarray(only_b)
    # special.bdtr is binom.cdf without the distribution machinery (which costs seconds over a board's pairs)
    p = np.minimum(1.0, 2.0 * special.bdtr(np.minimum(b, c), b + c, 0.5))
    p = np.where(b + c == 0, 1.0, p)
    return float(p) if p.ndim == 0 else p


def z_test(difference: np.ndarray | float, se: np.ndarray | float) -> np.ndarray | float:
    """Two-sided normal p-value; a zero error gives 1 for no difference and 0 for any other."""
    d, s = np.asarray(difference, dtype=np.float64), np.asarray(se, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = 2.0 * special.ndtr(-np.abs(d) / s)  # the normal sf, without scipy.stats' overhead
    p = np.where(s > 0, p, np.where(np.abs(d) > 1e-12, 0.0, 1.0))
    return float(p) if p.ndim == 0 else p


@dataclass(frozen=True)
class PairedDifference:
    """A minus B on the same items, in the items' own unit (a proportion for accuracies)."""

    n: int  # items both answered
    clusters: int
    difference: float
    se: float  # clustered paired standard error
    ci_low: float
    ci_high: float
    p_value: float
    test: str  # "exact McNemar" or "paired z (clustered)"
    only_a: int | None  # 0/1 items: right for A only
    only_b: int | None
    naive_se: float  # the same error with every item its own cluster


def paired_difference(
    a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray, clusters: Sequence[object] | None = None
) -> PairedDifference:
    """A minus B over items answered by both (``a[i]`` and ``b[i]`` are one item's values)."""
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"a and b must be equal-length item vectors, not {x.shape} and {y.shape}")
    codes = cluster_codes(clusters, x.size)
    d = x - y
    n_clusters = int(np.unique(codes).size)
    se = math.sqrt(max(0.0, float(mean_covariances(d[None, :], codes)[0, 0])))
    naive = math.sqrt(max(0.0, float(mean_covariances(d[None, :])[0, 0])))
    mean = float(d.mean())
    binary = bool(np.all((x == 0) | (x == 1)) and np.all((y == 0) | (y == 1)))
    only_a = int(np.sum((x == 1) & (y == 0))) if binary else None
    only_b = int(np.sum((x == 0) & (y == 1))) if binary else None
    if binary and n_clusters == x.size:
        p, test = float(mcnemar_exact(only_a, only_b)), "exact McNemar"
    else:
        p, test = float(z_test(mean, se)), "paired z (clustered)"
    return PairedDifference(
        n=int(x.size),
        clusters=n_clusters,
        difference=mean,
        se=se,
        ci_low=mean - Z95 * se,
        ci_high=mean + Z95 * se,
        p_value=p,
        test=test,
        only_a=only_a,
        only_b=only_b,
        naive_se=naive,
    )


def paired_bootstrap(
    a: Sequence[float] | np.ndarray,
    b: Sequence[float] | np.ndarray,
    clusters: Sequence[object] | None = None,
    n_resamples: int = 2000,
    seed: int = 0,
    confidence: float = 0.95,
) -> tuple[float, float]:
    """Percentile interval of mean(a - b) over resampled clusters (items, without clusters).

    Draws the same resampling indices as ``scipy.stats.bootstrap(..., method="percentile")`` given the
    same generator, so the two agree exactly when every item is its own cluster.
    """
    d = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    codes = cluster_codes(clusters, d.size)
    g = int(codes.max()) + 1
    sums = np.bincount(codes, weights=d, minlength=g)
    sizes = np.bincount(codes, minlength=g).astype(np.float64)
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, g, size=(n_resamples, g))
    means = sums[picks].sum(axis=1) / sizes[picks].sum(axis=1)
    tail = (1.0 - confidence) / 2.0
    low, high = np.percentile(means, [100 * tail, 100 * (1 - tail)])
    return float(low), float(high)


def holm_reject(p_values: np.ndarray, alpha: float = ALPHA) -> np.ndarray:
    """Holm's step-down within each row of a (V x V) p-value matrix; the diagonal is not a comparison.

    Row i is the family of variant i's V - 1 comparisons: sorted p-values p_(1) <= ... are rejected while
    ``p_(k) (m - k + 1) <= alpha`` holds for every k up to that one.
    """
    p = np.array(p_values, dtype=np.float64, copy=True)
    v = p.shape[0]
    if v < 2:
        return np.zeros_like(p, dtype=bool)
    np.fill_diagonal(p, 2.0)  # above any p-value: the diagonal sorts last and is never rejected
    m = v - 1
    order = np.argsort(p, axis=1, kind="stable")
    ranked = np.take_along_axis(p, order, axis=1)
    factors = np.r_[np.arange(m, 0, -1, dtype=np.float64), 1.0]  # m .. 1 for the comparisons, then the diagonal
    adjusted = np.maximum.accumulate(ranked * factors, axis=1)
    reject = np.zeros_like(p, dtype=bool)
    np.put_along_axis(reject, order, adjusted <= alpha, axis=1)
    return reject


def rank_ranges(
    aggregate: np.ndarray, difference_se: np.ndarray, alpha: float = ALPHA
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``rank_lo``, ``rank_hi`` and the Holm rejections from aggregates and the (V x V) paired errors.

    ``rank_lo = 1 +`` the variants significantly better, ``rank_hi = V -`` those significantly worse, each
    variant's comparisons one Holm family (a z-test on ``aggregate_j - aggregate_i`` over its paired error).
    """
    agg = np.asarray(aggregate, dtype=np.float64)
    diff = agg[None, :] - agg[:, None]  # [i, j]: j minus i
    reject = holm_reject(np.asarray(z_test(diff, difference_se)), alpha)
    better = (reject & (diff > 0)).sum(axis=1)
    worse = (reject & (diff < 0)).sum(axis=1)
    return 1 + better, agg.size - worse, reject


def minimum_detectable_difference(
    n_items: int, correlation: float, sd: float = 0.5, alpha: float = ALPHA, power: float = POWER
) -> float:
    """The smallest true difference of two means a paired two-sided test finds with ``power`` (Miller §5).

    ``(z_{1-alpha/2} + z_power) * sqrt(2 sd^2 (1 - rho) / n)``, with ``sd`` the per-item standard deviation
    (0.5, the largest a 0/1 item has, unless given) and ``rho`` the correlation between two models' items.
    """
    if n_items < 1:
        return math.nan
    z = stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power)
    # Never below z / n: models that agreed on every item measured so far (rho = 1) do not make a task able
    # to settle a difference smaller than the one a single item makes.
    return float(max(z * math.sqrt(2.0 * sd**2 * max(0.0, 1.0 - correlation) / n_items), z / n_items))


def mean_correlation(values: np.ndarray, groups: Sequence[object] | None = None) -> float | None:
    """The average per-item correlation between rows (variants) of a (V x n) matrix; None without a pair.

    With ``groups`` (each row's model), only rows of different groups are paired: two quantizations of
    one model agree far more than two models do, and would make a task look able to settle anything.
    Rows whose values do not vary (every item right, or wrong) have no correlation and are left out.
    """
    x = np.asarray(values, dtype=np.float64)
    if x.shape[0] < 2 or x.shape[1] < 2:
        return None
    keep = x.std(axis=1) > 0
    labels = np.arange(x.shape[0]) if groups is None else np.asarray(groups, dtype=object)
    if keep.sum() < 2:
        return None
    r = np.corrcoef(x[keep])
    kept = labels[keep]
    i, j = np.triu_indices_from(r, k=1)
    between = kept[i] != kept[j]
    return float(np.mean(r[i, j][between])) if between.any() else None
