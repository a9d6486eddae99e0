"""The simple machine reader: logistic regression on generic image statistics, cross-validated.

Labels are 1 for the first group (generated, or reference half B in the baseline) and 0 for the
second. Out-of-fold scores are pooled into one AUC with a DeLong 95% CI. 0.5 means the reader cannot
tell the groups apart; 1.0 means it always can.
"""

from __future__ import annotations

import numpy as np

from .auc import auc_with_ci, grouped_folds
from .image_statistics import STATISTIC_NAMES, standardise_within_modality
from .optional import require


def logistic_reader_auc(features: np.ndarray, labels: np.ndarray, groups: list[str], modalities: list[str],
                        folds: int = 5, seed: int = 0) -> dict:
    """Cross-validated AUC of an L2 logistic regression on within-modality standardised ``features``.

    Args:
        features: (n, statistics) array, one row per volume.
        labels: 1 for the first group, 0 for the second.
        groups: subject of each row; a subject never sits in a training and a test fold at once.
        modalities: modality of each row.
        folds: number of folds (fewer when a class has fewer subjects).
        seed: fold assignment.
    """
    linear_model = require("sklearn.linear_model")
    x = standardise_within_modality(features, modalities)
    labels = np.asarray(labels).astype(int)
    scores = np.zeros(len(labels))
    splits = grouped_folds(labels, groups, folds, seed)
    coefficients = []
    for train, test in splits:
        model = linear_model.LogisticRegression(C=1.0, max_iter=2000, class_weight="balanced")
        model.fit(x[train], labels[train])
        scores[test] = model.decision_function(x[test])
        coefficients.append(model.coef_[0])
    result = auc_with_ci(labels, scores)
    mean_coefficients = np.mean(coefficients, axis=0)
    order = np.argsort(-np.abs(mean_coefficients))
    result.update({"folds": len(splits),
                   "strongest_statistics": [{"statistic": STATISTIC_NAMES[i], "coefficient": float(mean_coefficients[i])}
                                            for i in order[:5]]})
    return result
