"""Area under the ROC curve with a DeLong 95% confidence interval, and grouped cross-validation folds."""

from __future__ import annotations

import numpy as np
from scipy import stats

from .optional import require


def _midranks(values: np.ndarray) -> np.ndarray:
    return stats.rankdata(values, method="average")


def auc_with_ci(labels: np.ndarray, scores: np.ndarray, level: float = 0.95) -> dict[str, float]:
    """AUC of ``scores`` for ``labels`` (1 = positive) with DeLong's variance.

    Returns:
        ``auc``, ``ci_low``, ``ci_high``, ``se``, ``n_positive``, ``n_negative``.
    """
    labels = np.asarray(labels).astype(bool)
    scores = np.asarray(scores, dtype=float)
    positive, negative = scores[labels], scores[~labels]
    m, n = positive.size, negative.size
    if m == 0 or n == 0:
        raise ValueError("AUC needs both classes.")
    all_ranks = _midranks(np.concatenate([positive, negative]))
    rank_positive, rank_negative = _midranks(positive), _midranks(negative)
    auc = (all_ranks[:m].sum() - m * (m + 1) / 2) / (m * n)
    # DeLong (1988) structural components, as in Sun & Xu (2014).
    v10 = (all_ranks[:m] - rank_positive) / n
    v01 = 1.0 - (all_ranks[m:] - rank_negative) / m
    variance = (np.var(v10, ddof=1) / m if m > 1 else 0.0) + (np.var(v01, ddof=1) / n if n > 1 else 0.0)
    se = float(np.sqrt(max(variance, 0.0)))
    z = stats.norm.ppf(0.5 + level / 2)
    return {"auc": float(auc), "ci_low": float(max(0.0, auc - z * se)), "ci_high": float(min(1.0, auc + z * se)),
            "se": se, "n_positive": int(m), "n_negative": int(n)}


def grouped_folds(labels: np.ndarray, groups: list[str], folds: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Stratified folds that keep each group (subject) in one fold; fewer folds when a class is small."""
    model_selection = require("sklearn.model_selection")
    labels = np.asarray(labels).astype(int)
    smallest = min(len({g for g, y in zip(groups, labels) if y == c}) for c in (0, 1))
    folds = max(2, min(folds, smallest))
    splitter = model_selection.StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    return list(splitter.split(np.zeros(len(labels)), labels, groups))
