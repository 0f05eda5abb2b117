"""The comparisons behind a site check, each with a size and a p-value (numpy/scipy/scikit-learn).

* :func:`compare_numeric`: two-sample Kolmogorov-Smirnov test of one per-film statistic (raw
  intensity, size, bit depth, the model's view); the KS distance D is the largest gap between the
  two cumulative distributions (0 = identical, 1 = no overlap).
* :func:`compare_counts`: total-variation distance between two category mixes (file formats,
  predicted classes): the share of films that would have to change category.
* :func:`domain_auc`: can a classifier tell the site's films from the reference films by the
  model's features alone? Cross-validated AUC of a shrinkage Fisher discriminant on the
  feature-space coordinates and their squares (0.5 = indistinguishable, 1 = perfectly separable), with a
  permutation p-value.
* :func:`outlier_rate`: films beyond the reference's 99th-percentile outlier score, against the
  share expected (1% with enough reference films), with an exact one-sided p-value.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

#: Effect sizes (with p < ALPHA) that count as a moderate / large difference.
KS_MODERATE, KS_LARGE = 0.25, 0.5
TV_MODERATE, TV_LARGE = 0.2, 0.5
AUC_MODERATE, AUC_LARGE = 0.65, 0.8
ALPHA = 0.01


@dataclass(frozen=True)
class Difference:
    key: str
    what: str
    measure: str  # "KS distance" / "total variation"
    size: float
    p_value: float | None
    severity: str  # "none", "moderate", "large"
    reference: str
    site: str
    note: str  # in plain words

    def to_dict(self) -> dict:
        return asdict(self)


def _severity(size: float, p: float | None, moderate: float, large: float) -> str:
    if p is not None and p >= ALPHA:
        return "none"
    return "large" if size >= large else "moderate" if size >= moderate else "none"


def _summary(values: np.ndarray, digits: int) -> str:
    if not len(values):
        return "–"
    lo, mid, hi = np.percentile(values, [25, 50, 75])
    f = f"{{:.{digits}f}}"
    return f"median {f.format(mid)} (IQR {f.format(lo)}–{f.format(hi)})"


def compare_numeric(key: str, what: str, reference: np.ndarray, site: np.ndarray, digits: int = 2,
                    higher: str = "higher", lower: str = "lower") -> Difference:
    from scipy.stats import ks_2samp

    ref, cur = np.asarray(reference, np.float64), np.asarray(site, np.float64)
    ref, cur = ref[np.isfinite(ref)], cur[np.isfinite(cur)]
    if not len(ref) or not len(cur):
        return Difference(key, what, "KS distance", math.nan, None, "none", _summary(ref, digits), _summary(cur, digits),
                          "nothing to compare")
    if np.ptp(np.concatenate([ref, cur])) == 0:
        stat, p = 0.0, 1.0
    else:
        result = ks_2samp(ref, cur)
        stat, p = float(result.statistic), float(result.pvalue)
    severity = _severity(stat, p, KS_MODERATE, KS_LARGE)
    direction = higher if np.median(cur) > np.median(ref) else lower
    note = (f"site films: {what} {direction} than in the reference" if severity != "none"
            else f"{what}: similar to the reference")
    return Difference(key, what, "KS distance", stat, p, severity, _summary(ref, digits), _summary(cur, digits), note)


def total_variation(a: dict[str, float], b: dict[str, float]) -> float:
    keys = set(a) | set(b)
    sa, sb = max(sum(a.values()), 1e-12), max(sum(b.values()), 1e-12)
    return 0.5 * sum(abs(a.get(k, 0) / sa - b.get(k, 0) / sb) for k in keys)


def _mix_text(counts: dict[str, float]) -> str:
    total = max(sum(counts.values()), 1e-12)
    return ", ".join(f"{k} {v / total:.0%}" for k, v in sorted(counts.items(), key=lambda kv: -kv[1]) if v > 0) or "–"


def compare_counts(key: str, what: str, reference: dict[str, float], site: dict[str, float]) -> Difference:
    tv = total_variation(reference, site)
    severity = _severity(tv, None, TV_MODERATE, TV_LARGE)
    note = f"{what} differs from the reference" if severity != "none" else f"{what}: similar to the reference"
    return Difference(key, what, "total variation", tv, None, severity, _mix_text(reference), _mix_text(site), note)


def _design(coords: np.ndarray) -> np.ndarray:
    """Coordinates and their squares: a linear classifier then sees shifts in location and spread."""
    return np.column_stack([coords, coords ** 2])


def _fisher_scores(x_fit: np.ndarray, y_fit: np.ndarray, x_new: np.ndarray, ridge: float) -> np.ndarray:
    """Fisher linear discriminant with ridge shrinkage (closed form: fast enough for permutations)."""
    m0, m1 = x_fit[y_fit == 0].mean(axis=0), x_fit[y_fit == 1].mean(axis=0)
    centred = np.where((y_fit == 1)[:, None], x_fit - m1, x_fit - m0)
    cov = centred.T @ centred / max(len(x_fit) - 2, 1)
    cov += ridge * (np.trace(cov) / len(cov) + 1e-12) * np.eye(len(cov))
    return x_new @ np.linalg.solve(cov, m1 - m0)


def _cv_auc(x: np.ndarray, y: np.ndarray, seed: int, folds: int = 5, ridge: float = 0.3) -> float:
    """Cross-validated AUC of the discriminant: every film scored by a model fitted without it."""
    from cxrlab.metrics.classification import rank_auc

    folds = int(min(folds, np.bincount(y, minlength=2).min()))
    if folds < 2:
        return math.nan
    rng = np.random.default_rng(seed)
    fold = np.empty(len(y), np.int64)
    for label in (0, 1):  # stratified folds
        idx = rng.permutation(np.flatnonzero(y == label))
        fold[idx] = np.arange(len(idx)) % folds
    scores = np.empty(len(y))
    for f in range(folds):
        test = fold == f
        scores[test] = _fisher_scores(x[~test], y[~test], x[test], ridge)
    return rank_auc(scores, y == 1)


def domain_auc(reference: np.ndarray, site: np.ndarray, seed: int = 0, permutations: int = 100,
               max_per_side: int = 500) -> dict:
    """``{auc, p_value, permutations, n_reference, n_site}`` (see the module docstring)."""
    rng = np.random.default_rng(seed)
    ref = reference[rng.permutation(len(reference))[:max_per_side]]
    cur = site[rng.permutation(len(site))[:max_per_side]]
    x = _design(np.concatenate([ref, cur]))
    x = (x - x.mean(axis=0)) / (x.std(axis=0) + 1e-9)
    y = np.r_[np.zeros(len(ref), np.int64), np.ones(len(cur), np.int64)]
    auc = _cv_auc(x, y, seed)
    null = [_cv_auc(x, rng.permutation(y), seed) for _ in range(max(int(permutations), 0))] if math.isfinite(auc) else []
    p = (1 + sum(v >= auc for v in null)) / (1 + len(null)) if null else None
    return {"auc": auc, "p_value": p, "permutations": len(null), "n_reference": int(len(ref)), "n_site": int(len(cur)),
            "null_auc_95": float(np.quantile(null, 0.95)) if null else None}


def domain_severity(result: dict) -> str:
    auc, p = result.get("auc"), result.get("p_value")
    if auc is None or not math.isfinite(auc):
        return "none"
    return _severity(auc, p, AUC_MODERATE, AUC_LARGE)


def outlier_rate(scores: np.ndarray, threshold: float, expected: float, reference_n: int | None = None) -> dict:
    """Films scoring above ``threshold``, which a film like the reference exceeds with probability
    ``expected``. When the threshold is an order statistic of ``reference_n`` reference scores (the
    conformal threshold of :mod:`cxrlab.export.profile`), the count of exceedances among films like
    the reference is exactly beta-binomial - which accounts for the threshold's own uncertainty
    with few reference films; otherwise binomial."""
    from scipy.stats import betabinom, binomtest

    n = int(len(scores))
    k = int((np.asarray(scores) > threshold).sum())
    p = None
    if n and reference_n:
        a = max(round(expected * (reference_n + 1)), 1)
        p = float(betabinom.sf(k - 1, n, a, reference_n + 1 - a)) if k else 1.0
    elif n:
        p = float(binomtest(k, n, expected, alternative="greater").pvalue)
    share = k / n if n else math.nan
    severity = "none"
    if p is not None and p < ALPHA:
        severity = "large" if share >= 0.25 else "moderate" if share >= 0.05 else "none"
    return {"outliers": k, "films": n, "share": share, "expected_share": expected, "p_value": p,
            "threshold": float(threshold), "severity": severity}
