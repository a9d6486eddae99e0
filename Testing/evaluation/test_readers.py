"""Machine readers: near 1 on noise-corrupted copies of a cohort, near 0.5 on a split of the same cohort."""

from __future__ import annotations

import eval_phantoms as phantoms
import numpy as np
import pytest

from braingen3d.evaluation.cnn_reader import cnn_reader_auc
from braingen3d.evaluation.image_statistics import STATISTIC_NAMES, statistics_matrix
from braingen3d.evaluation.options import CnnSettings
from braingen3d.evaluation.simple_reader import logistic_reader_auc
from braingen3d.evaluation.splits import split_halves

MODALITIES = ("T1", "FLAIR")


def _task(kind: str):
    """(samples, labels, groups) for 'noise' (cohort vs its noisy copies) or 'split' (the cohort's two halves)."""
    volumes = phantoms.cohort(16, 5, MODALITIES)
    reference = phantoms.samples(volumes)
    if kind == "noise":
        copies = phantoms.samples(volumes, generated=True, transform=phantoms.add_noise(0.04))
        for copy in copies:
            copy.name = "noisy_" + copy.name
        phantoms.with_masks(reference, copies)
        first, second = copies, reference
    else:
        phantoms.with_masks(reference, [])
        second, first = split_halves(reference, seed=0)
    samples = [*first, *second]
    labels = np.array([1] * len(first) + [0] * len(second))
    # A copy shares its source's group: otherwise a reader could learn each subject's anatomy in one class
    # and meet it in the other class at test time.
    groups = [s.subject for s in samples]
    return samples, labels, groups


def _simple(kind: str) -> dict:
    samples, labels, groups = _task(kind)
    head = np.logical_or.reduce([s.brain for s in samples])
    features = statistics_matrix(samples, head)
    assert features.shape == (len(samples), len(STATISTIC_NAMES))
    return logistic_reader_auc(features, labels, groups, [s.modality for s in samples], folds=5, seed=0)


def test_simple_reader_tells_noisy_copies_apart():
    result = _simple("noise")
    assert result["auc"] > 0.9 and result["ci_low"] > 0.75
    assert result["n_positive"] == result["n_negative"] == 32


def test_simple_reader_cannot_tell_a_split_of_one_cohort():
    result = _simple("split")
    assert 0.2 < result["auc"] < 0.8 and result["ci_low"] < 0.5 < result["ci_high"]


def _cnn(kind: str) -> dict:
    samples, labels, groups = _task(kind)
    return cnn_reader_auc([s.array for s in samples], labels, groups, [s.modality for s in samples],
                          CnnSettings(epochs=8, folds=4), seed=0)


# About 3 s each on two idle cores, but a minute or more when the cores are shared with training.
@pytest.mark.slow
def test_cnn_reader_tells_noisy_copies_apart():
    result = _cnn("noise")
    assert result["auc"] > 0.85 and result["folds"] == 4 and result["input_shape"] == [32, 40, 32]


@pytest.mark.slow
def test_cnn_reader_cannot_tell_a_split_of_one_cohort():
    result = _cnn("split")
    assert 0.2 < result["auc"] < 0.8 and result["ci_low"] < 0.5 < result["ci_high"]
