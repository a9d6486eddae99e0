"""White-matter lesions: blobby ellipsoids placed in periventricular and deep white matter."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import ndimage as ndi

from braingen3d.core.geometry import Grid


@dataclass
class LesionSpec:
    """One placed lesion.

    Attributes:
        kind: ``"periventricular"`` or ``"deep"``.
        centre_mm: RAS centre.
        radii_mm: semi-axes of the main ellipsoid.
    """

    kind: str
    centre_mm: list[float]
    radii_mm: list[float]

    def to_dict(self) -> dict:
        return asdict(self)


def _random_rotation(rng: np.random.Generator) -> np.ndarray:
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    return q * np.sign(np.diag(r))


def _soft_ellipsoid(points: np.ndarray, centre: np.ndarray, radii: np.ndarray, rotation: np.ndarray, edge_mm: float) -> np.ndarray:
    """Membership in [0, 1] of world ``points`` (N, 3) in an ellipsoid with a ~``edge_mm`` soft rim."""
    local = (points - centre) @ rotation / radii
    distance = (np.linalg.norm(local, axis=1) - 1.0) * radii.min()
    return np.clip(0.5 - distance / edge_mm, 0.0, 1.0)


def place_lesions(
    rng: np.random.Generator,
    count: int,
    wm: np.ndarray,
    ventricles: np.ndarray,
    grid: Grid,
    periventricular_fraction: float = 0.6,
) -> tuple[np.ndarray, list[LesionSpec]]:
    """Place ``count`` lesions in white matter and return their fraction map.

    Periventricular lesions are centred 2-8 mm from the ventricles and elongated (4-9 mm by
    2.5-4 mm semi-axes); deep lesions are centred further out in white matter and rounder
    (2-4.5 mm). Each lesion is two or three overlapping ellipsoids, so the shape is blobby. The
    lesion replaces white matter only: its fraction is the membership times the WM fraction.

    Args:
        rng: random generator.
        count: number of lesions.
        wm: white-matter fraction of the (deformed) subject.
        ventricles: ventricle fraction of the subject.
        grid: the subject's grid.
        periventricular_fraction: probability that a lesion is periventricular.

    Returns:
        (lesion fraction map, specifications).
    """
    lesion = np.zeros(wm.shape, np.float32)
    specs: list[LesionSpec] = []
    if count <= 0:
        return lesion, specs
    spacing = np.asarray(grid.spacing)
    distance = ndi.distance_transform_edt(ventricles < 0.5, sampling=spacing)
    periventricular = np.argwhere((wm > 0.6) & (distance >= 2.0) & (distance <= 8.0))
    deep = np.argwhere((wm > 0.8) & (distance > 10.0))
    edge = float(spacing.min())
    for _ in range(count):
        is_peri = rng.random() < periventricular_fraction and len(periventricular) > 0
        pool = periventricular if is_peri else deep
        if len(pool) == 0:
            break
        centre_index = pool[rng.integers(len(pool))]
        centre = grid.affine[:3, :3] @ centre_index + grid.affine[:3, 3]
        if is_peri:
            radii = np.array([rng.uniform(4.0, 9.0), rng.uniform(2.5, 4.0), rng.uniform(2.5, 4.0)])
        else:
            radii = rng.uniform(2.0, 4.5, 3)
        rotation = _random_rotation(rng)
        reach = int(np.ceil((radii.max() * 1.6 + edge) / spacing.min()))
        low = np.maximum(centre_index - reach, 0)
        high = np.minimum(centre_index + reach + 1, wm.shape)
        box = tuple(slice(a, b) for a, b in zip(low, high))
        index = np.indices(high - low).reshape(3, -1).T + low
        points = index @ grid.affine[:3, :3].T + grid.affine[:3, 3]
        membership = _soft_ellipsoid(points, centre, radii, rotation, edge)
        for _lobe in range(int(rng.integers(1, 3))):
            offset = rng.normal(0.0, 0.5, 3) * radii
            membership = np.maximum(membership, _soft_ellipsoid(points, centre + rotation @ offset, radii * rng.uniform(0.5, 0.8), _random_rotation(rng), edge))
        lesion[box] = np.maximum(lesion[box], membership.reshape(high - low))
        specs.append(LesionSpec("periventricular" if is_peri else "deep", [float(v) for v in centre], [float(v) for v in radii]))
    return (lesion * wm).astype(np.float32), specs
