"""Optional affine registration of a subject to the MNI152 T1 template with SimpleITK."""

from __future__ import annotations

import logging

import numpy as np

from braingen3d.core.errors import InvalidInputError
from braingen3d.core.geometry import Grid

logger = logging.getLogger(__name__)


def _to_sitk(array: np.ndarray, grid: Grid):
    import SimpleITK as sitk

    if not np.allclose(grid.affine[:3, :3], np.diag(np.diag(grid.affine[:3, :3]))):
        raise InvalidInputError("Registration needs an axis-aligned target grid.")
    image = sitk.GetImageFromArray(np.ascontiguousarray(np.asarray(array, dtype=np.float32).transpose(2, 1, 0)))
    # Physical space here is RAS mm (not ITK's LPS): only consistency between the two images matters.
    image.SetSpacing([float(abs(v)) for v in np.diag(grid.affine[:3, :3])])
    image.SetOrigin([float(v) for v in grid.affine[:3, 3]])
    image.SetDirection([float(np.sign(grid.affine[0, 0])), 0, 0, 0, float(np.sign(grid.affine[1, 1])), 0, 0, 0, float(np.sign(grid.affine[2, 2]))])
    return image


def affine_to_template(moving: np.ndarray, template: np.ndarray, grid: Grid, iterations: int = 200) -> np.ndarray:
    """A 4x4 world transform (template mm -> moving mm) aligning ``moving`` to ``template``.

    Both arrays live on ``grid``. Mattes mutual information (works across contrasts), a
    three-level pyramid, and a 12-parameter affine initialised at the images' centres of mass.

    Args:
        moving: the subject, already roughly placed on ``grid``.
        template: MNI152 T1 template on ``grid``.
        grid: their grid.
        iterations: optimiser iterations per level.

    Returns:
        Matrix M with ``moving_world = M @ template_world``.
    """
    import SimpleITK as sitk

    fixed_image = _to_sitk(template, grid)
    moving_image = _to_sitk(moving, grid)
    initial = sitk.CenteredTransformInitializer(fixed_image, moving_image, sitk.AffineTransform(3), sitk.CenteredTransformInitializerFilter.MOMENTS)
    method = sitk.ImageRegistrationMethod()
    method.SetMetricAsMattesMutualInformation(numberOfHistogramBins=32)
    method.SetMetricSamplingStrategy(method.RANDOM)
    method.SetMetricSamplingPercentage(0.2, seed=0)
    method.SetInterpolator(sitk.sitkLinear)
    method.SetOptimizerAsRegularStepGradientDescent(learningRate=1.0, minStep=1e-4, numberOfIterations=iterations, gradientMagnitudeTolerance=1e-6)
    method.SetOptimizerScalesFromPhysicalShift()
    method.SetShrinkFactorsPerLevel([4, 2, 1])
    method.SetSmoothingSigmasPerLevel([2.0, 1.0, 0.0])
    method.SmoothingSigmasAreSpecifiedInPhysicalUnitsOff()
    method.SetInitialTransform(initial, inPlace=False)
    transform = method.Execute(fixed_image, moving_image)
    logger.info("Affine registration: metric %.4f after %d iterations.", method.GetMetricValue(), method.GetOptimizerIteration())
    affine = sitk.AffineTransform(transform.GetNthTransform(0) if hasattr(transform, "GetNthTransform") else transform)
    matrix = np.asarray(affine.GetMatrix()).reshape(3, 3)
    centre = np.asarray(affine.GetCenter())
    translation = np.asarray(affine.GetTranslation())
    result = np.eye(4)
    result[:3, :3] = matrix
    result[:3, 3] = translation + centre - matrix @ centre
    return result
