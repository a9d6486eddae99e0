"""In-brain grey-level distributions per modality: Wasserstein-1 distances and plots.

The in-brain voxels of each group are pooled per modality. The distance of the generated volumes to
reference half A is set against that of reference half B to half A (the same sizes; ``splits``).
On the [0, 1] intensity scale: a W1 of 0.02 means the grey levels are, on average, 0.02 apart.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.stats import wasserstein_distance

from .optional import require
from .splits import Comparison
from .volumes import Sample

MAX_VOXELS = 400_000
BINS = np.linspace(0.0, 1.0, 101)


def in_brain_values(samples: list[Sample], seed: int = 0, limit: int = MAX_VOXELS) -> np.ndarray:
    """In-brain intensities of ``samples`` pooled, a random subset of at most ``limit`` voxels."""
    values = np.concatenate([s.array[s.brain] for s in samples]) if samples else np.zeros(0, np.float32)
    if values.size > limit:
        values = np.random.default_rng(seed).choice(values, limit, replace=False)
    return values


def histogram_distances(comparison: Comparison, seed: int = 0) -> dict[str, dict]:
    """Per modality: W1 generated-vs-A, W1 B-vs-A, their ratio, the sizes and the histograms (100 bins on [0, 1])."""
    result = {}
    modalities = sorted({s.modality for s in comparison.half_a})
    for modality in modalities:
        part = comparison.modality(modality)
        if not part.generated or not part.half_b:
            continue
        generated, half_a, half_b = (in_brain_values(group, seed) for group in (part.generated, part.half_a, part.half_b))
        w1 = float(wasserstein_distance(generated, half_a))
        baseline = float(wasserstein_distance(half_b, half_a))
        result[modality] = {
            "w1": w1, "baseline_w1": baseline, "ratio": w1 / baseline if baseline > 0 else None,
            **{f"n_{key}": value for key, value in part.sizes().items()},
            "histograms": {name: np.histogram(values, BINS, density=True)[0].round(4).tolist()
                           for name, values in (("generated", generated), ("reference_a", half_a), ("reference_b", half_b))},
            "bin_edges": BINS.round(3).tolist(),
        }
    return result


def plot_histograms(distances: dict[str, dict], path: Path) -> Path:
    """One panel per modality: the three in-brain histograms, with both distances in the title."""
    matplotlib = require("matplotlib")
    matplotlib.use("Agg")
    pyplot = require("matplotlib.pyplot")
    modalities = list(distances)
    figure, axes = pyplot.subplots(1, len(modalities), figsize=(4.2 * len(modalities), 3.4), squeeze=False)
    centres = (BINS[:-1] + BINS[1:]) / 2
    for axis, modality in zip(axes[0], modalities):
        entry = distances[modality]
        for name, colour, label in (("generated", "tab:red", f"generated (n={entry['n_generated']})"),
                                    ("reference_a", "tab:blue", f"reference A (n={entry['n_reference_a']})"),
                                    ("reference_b", "tab:cyan", f"reference B (n={entry['n_reference_b']})")):
            axis.plot(centres, entry["histograms"][name], color=colour, label=label, linewidth=1.4)
        axis.set_title(f"{modality}: W1 gen-A {entry['w1']:.3f}, B-A {entry['baseline_w1']:.3f}", fontsize=9)
        axis.set_xlabel("intensity in the brain (0-1)")
        axis.set_ylabel("density")
        axis.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=100, format="png")
    pyplot.close(figure)
    return path
