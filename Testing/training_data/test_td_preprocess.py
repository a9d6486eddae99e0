"""Preprocessing: an LPS, anisotropic input lands RAS on the target grid, brain where it should be."""

from __future__ import annotations

import os

import nibabel as nib
import numpy as np
import pytest
from scipy import ndimage as ndi

from braingen3d.core.geometry import mni_grid
from training.captions.measure import template_tissue_masks
from training.cohort.templates import load_templates
from training.data.manifest import COLUMNS, read_manifest, write_manifest
from training.data.placement import mni_brain_centre_mm
from training.data.preprocess import PreprocessParams, preprocess_manifest
from training.data.preprocess import main as preprocess_main

GRID = mni_grid((40, 48, 40), 4.0)
PARAMS = PreprocessParams(GRID.shape, 4.0)
CENTRE_IN_SCANNER = np.array([30.0, 10.0, -20.0])
MARKER_OFFSET = np.array([30.0, 40.0, 25.0])  # right, anterior, superior of the centre


def _world_points(shape, affine):
    index = np.indices(shape).reshape(3, -1)
    return (affine[:3, :3] @ index + affine[:3, 3:4]).T.reshape(*shape, 3)


def _phantom(tmp_path):
    """An ellipsoidal 'brain' with a dark marker, stored LPS with 1.5 x 1 x 3 mm voxels."""
    affine = np.diag([-1.5, -1.0, 3.0, 1.0])
    shape = (140, 200, 60)
    affine[:3, 3] = CENTRE_IN_SCANNER - affine[:3, :3] @ (np.asarray(shape) / 2)
    world = _world_points(shape, affine) - CENTRE_IN_SCANNER
    brain = ((world / np.array([60.0, 75.0, 55.0])) ** 2).sum(-1) <= 1.0
    marker = np.linalg.norm(world - MARKER_OFFSET, axis=-1) <= 8.0
    image = np.where(brain, 100.0, 0.0) - np.where(marker, 70.0, 0.0)
    labels = np.where(brain, 3, 0).astype(np.uint8)
    labels[marker & brain] = 5
    nib.save(nib.Nifti1Image(image.astype(np.float32), affine), tmp_path / "lps.nii.gz")
    nib.save(nib.Nifti1Image(labels, affine), tmp_path / "lps_labels.nii.gz")
    row = {column: "" for column in COLUMNS}
    row.update(subject_id="p1", image="lps.nii.gz", modality="T1", age="50", sex="F", tissue_map="lps_labels.nii.gz", dataset="phantom", split="train")
    write_manifest(tmp_path / "manifest.csv", [row])
    return tmp_path / "manifest.csv"


def _centroid_mm(mask):
    return GRID.affine[:3, :3] @ np.asarray(ndi.center_of_mass(mask)) + GRID.affine[:3, 3]


def test_lps_anisotropic_input_lands_ras_on_the_grid(tmp_path):
    manifest = _phantom(tmp_path)
    out = preprocess_manifest(manifest, tmp_path / "prep", PARAMS, progress=False)
    row = read_manifest(out, check_files=True)[0]
    image = nib.load(row["image"])
    labels = nib.load(row["tissue_map"])
    np.testing.assert_allclose(image.affine, GRID.affine)
    np.testing.assert_allclose(labels.affine, GRID.affine)
    data = image.get_fdata()
    assert data.shape == GRID.shape and data.min() >= 0 and data.max() <= 1
    brain = np.asarray(labels.dataobj) > 0
    assert set(np.unique(np.asarray(labels.dataobj))) <= {0, 3, 5}
    # The brain's centre of mass sits at the MNI brain's centre, and nothing is flipped: the marker
    # is right, anterior and superior of it, where it was in the input.
    centre = _centroid_mm(brain)
    np.testing.assert_allclose(centre, mni_brain_centre_mm(), atol=4.0)
    dark = (data < 0.6) & ndi.binary_erosion(brain, iterations=2)
    np.testing.assert_allclose(_centroid_mm(dark), centre + MARKER_OFFSET, atol=4.5)
    np.testing.assert_allclose(_centroid_mm(np.asarray(labels.dataobj) == 5), centre + MARKER_OFFSET, atol=4.5)
    assert np.all(data[~ndi.binary_dilation(brain, iterations=1)] == 0)
    # Volume is preserved by the resampling (ellipsoid of 60 x 75 x 55 mm semi-axes).
    assert brain.sum() * 64 / 1000 == pytest.approx(4 / 3 * np.pi * 60 * 75 * 55 / 1000, rel=0.05)


def test_outputs_are_cached_by_input_and_parameters(tmp_path):
    manifest = _phantom(tmp_path)
    first = read_manifest(preprocess_manifest(manifest, tmp_path / "prep", PARAMS, progress=False))[0]
    stamp = os.stat(first["image"]).st_mtime_ns
    again = read_manifest(preprocess_manifest(manifest, tmp_path / "prep", PARAMS, progress=False))[0]
    assert again["image"] == first["image"]
    assert os.stat(again["image"]).st_mtime_ns == stamp  # not recomputed
    os.utime(tmp_path / "lps.nii.gz", ns=(stamp + 10**9, stamp + 10**9))  # a newer input is processed anew
    touched = read_manifest(preprocess_manifest(manifest, tmp_path / "prep", PARAMS, progress=False))[0]
    assert touched["image"] != first["image"]
    other = read_manifest(preprocess_manifest(manifest, tmp_path / "prep", PreprocessParams((32, 40, 32), 5.0), progress=False))[0]
    assert other["image"] != first["image"] and nib.load(other["image"]).shape == (32, 40, 32)


def test_registration_aligns_a_shifted_rotated_template(tmp_path):
    templates = load_templates(GRID)
    angle = np.deg2rad(8.0)
    rotation = np.array([[1, 0, 0], [0, np.cos(angle), -np.sin(angle)], [0, np.sin(angle), np.cos(angle)]])
    moved = np.eye(4)
    moved[:3, :3] = rotation @ GRID.affine[:3, :3]
    moved[:3, 3] = rotation @ GRID.affine[:3, 3] + np.array([25.0, -15.0, 40.0])
    flip = np.diag([-1.0, 1.0, 1.0, 1.0])
    flip[0, 3] = GRID.shape[0] - 1
    nib.save(nib.Nifti1Image(templates.t1[::-1].copy(), moved @ flip), tmp_path / "moved.nii.gz")  # stored L-R flipped (LAS)
    row = {column: "" for column in COLUMNS}
    row.update(subject_id="m", image="moved.nii.gz", modality="T1", dataset="t", split="train")
    write_manifest(tmp_path / "manifest.csv", [row])
    assert preprocess_main([str(tmp_path / "manifest.csv"), "--out", str(tmp_path / "prep"), "--shape", "40", "48", "40",
                            "--spacing", "4", "--register", "--no-progress"]) == 0
    result = nib.load(read_manifest(tmp_path / "prep" / "manifest.csv")[0]["image"]).get_fdata()
    brain = templates.brain > 0.5
    correlation = np.corrcoef(result[brain], templates.t1[brain])[0, 1]
    assert correlation > 0.97  # about 0.68 with the centring alone


def test_label_ventricles_splits_csf_only_maps(tmp_path):
    templates = load_templates(GRID)
    csf = templates.csf + templates.ventricles
    labels = np.argmax(np.stack([1.0 - templates.brain, csf, templates.gm, templates.wm]), axis=0).astype(np.uint8)  # FAST-like: 0-3
    nib.save(nib.Nifti1Image(templates.t1.copy(), GRID.affine), tmp_path / "t1.nii.gz")
    nib.save(nib.Nifti1Image(labels, GRID.affine), tmp_path / "fast.nii.gz")
    row = {column: "" for column in COLUMNS}
    row.update(subject_id="f", image="t1.nii.gz", modality="T1", tissue_map="fast.nii.gz", dataset="t", split="train")
    write_manifest(tmp_path / "manifest.csv", [row])
    params = PreprocessParams(GRID.shape, 4.0, register=False, label_ventricles=True)
    result = np.asarray(nib.load(read_manifest(preprocess_manifest(tmp_path / "manifest.csv", tmp_path / "prep", params, progress=False))[0]["tissue_map"]).dataobj)
    ventricles = result == 4
    expected = (templates.ventricles > csf / 2) & (csf > 0.5)
    assert ventricles.sum() == pytest.approx(expected.sum(), rel=0.5)
    assert (ventricles & expected).sum() > 0.6 * expected.sum()
    # Only CSF in the ventricle region changes; sulcal CSF elsewhere stays CSF.
    roi = template_tissue_masks(GRID)["ventricle_roi"]
    assert not (ventricles & ~roi).any()
    assert ((result == 1) & ~roi).sum() >= 0.8 * ((labels == 1) & ~roi).sum() > 100
