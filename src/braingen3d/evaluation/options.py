"""What an evaluation run is asked to do (light to import: the CLI reads it for --help)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

MEASURES = ("histograms", "frd", "simple_reader", "cnn_reader", "latent", "diversity", "memorisation",
            "background_detail", "montage")
MIN_VOLUMES_PER_SIDE = 5


@dataclass(frozen=True)
class CnnSettings:
    """Training of the CNN reader.

    Args:
        epochs: passes over the training folds.
        batch_size: volumes per step.
        learning_rate: Adam learning rate.
        max_side: longest side (voxels) after pooling.
        folds: number of folds (fewer when a class has fewer subjects).
    """

    epochs: int = 20
    batch_size: int = 8
    learning_rate: float = 2e-3
    max_side: int = 48
    folds: int = 5


@dataclass
class EvaluationOptions:
    """Settings of ``braingen3d evaluate``.

    Args:
        reference: folder of volumes or manifest CSV of the real (held-out) subjects.
        output: report folder to create.
        bundle: bundle folder (None: the embedded default bundle).
        training: folder or manifest of the training subjects (memorisation; skipped without it).
        generated: folder of volumes generated elsewhere (None: generate with the bundle).
        count: volumes to generate, spread over the reference's modalities.
        seed: base seed of the generations (volume k uses seed + k) and of every split.
        steps: sampler steps (None: the bundle's).
        guidance: guidance scale (None: the bundle's).
        sampler: sampler (None: the bundle's).
        device: where generation runs.
        reference_split: manifest split of the reference (None: test, else val, else all rows).
        training_split: manifest split of the training set (None: train, else all rows).
        frd_features: ``full`` or ``original`` radiomics feature set.
        cnn: training settings of the CNN reader.
        folds: cross-validation folds of the simple reader.
        skip: measures not to compute.
        keep_generated: also write the generated volumes (NIfTI + JSON sidecar) into the report folder.
        overwrite: replace an existing report folder.
        show_progress: show progress bars.
    """

    reference: Path
    output: Path
    bundle: Path | None = None
    training: Path | None = None
    generated: Path | None = None
    count: int = 40
    seed: int = 0
    steps: int | None = None
    guidance: float | None = None
    sampler: str | None = None
    device: str = "auto"
    reference_split: str | None = None
    training_split: str | None = None
    frd_features: str = "full"
    cnn: CnnSettings = field(default_factory=CnnSettings)
    folds: int = 5
    skip: frozenset[str] = frozenset()
    keep_generated: bool = False
    overwrite: bool = False
    show_progress: bool = True

    def measures(self) -> tuple[str, ...]:
        return tuple(m for m in MEASURES if m not in self.skip)
