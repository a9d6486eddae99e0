"""AUC and its DeLong interval, checked against sklearn and a direct computation from the definition."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from braingen3d.evaluation.auc import auc_with_ci, grouped_folds


def delong_by_definition(labels, scores):
    positive, negative = scores[labels == 1], scores[labels == 0]
    psi = (positive[:, None] > negative[None, :]) + 0.5 * (positive[:, None] == negative[None, :])
    v10, v01 = psi.mean(axis=1), psi.mean(axis=0)
    return psi.mean(), np.sqrt(v10.var(ddof=1) / len(positive) + v01.var(ddof=1) / len(negative))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_auc_and_se_match_sklearn_and_the_definition(seed):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, 60)
    scores = np.round(rng.normal(labels * 0.8, 1.0), 1)  # ties on purpose
    result = auc_with_ci(labels, scores)
    auc, se = delong_by_definition(labels, scores)
    assert result["auc"] == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)
    assert result["auc"] == pytest.approx(auc, abs=1e-12) and result["se"] == pytest.approx(se, rel=1e-9)
    assert result["ci_low"] < result["auc"] < result["ci_high"]


def test_perfect_and_chance_separation():
    labels = np.array([1] * 20 + [0] * 20)
    assert auc_with_ci(labels, labels.astype(float))["auc"] == 1.0
    rng = np.random.default_rng(3)
    chance = auc_with_ci(labels, rng.normal(size=40))
    assert chance["ci_low"] < 0.5 < chance["ci_high"]


def test_folds_keep_subjects_together_and_stratify():
    labels = np.array([1] * 12 + [0] * 12)
    groups = [f"g{i}" for i in range(12)] + [f"s{i // 2}" for i in range(12)]  # references: two volumes per subject
    folds = grouped_folds(labels, groups, folds=5, seed=0)
    assert len(folds) == 5
    for train, test in folds:
        assert not {groups[i] for i in train} & {groups[i] for i in test}
        assert set(labels[test]) == {0, 1}
