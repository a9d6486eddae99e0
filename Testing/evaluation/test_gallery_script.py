"""scripts/make_gallery.py: one row per contrast, generated beside the chosen reference subject."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from PIL import Image

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "make_gallery.py"


def _script():
    spec = importlib.util.spec_from_file_location("make_gallery", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_gallery_has_a_row_per_contrast_and_is_written_atomically(phantom_bundle, phantom_folders, tmp_path):
    out = tmp_path / "gallery.png"
    code = _script().main(["--reference", str(phantom_folders["reference"]), "--bundle", str(phantom_bundle),
                           "--device", "cpu", "-o", str(out)])
    assert code == 0
    image = Image.open(out)
    row = 16 + 6 + 40 * 2  # label banner + gap + the tallest slice (40 voxels at 2 mm shown at 1 mm)
    assert image.height == 16 + 2 * row  # title banner + the T1 and T2 rows of the phantoms
    assert not list(tmp_path.glob(".*partial"))


def test_gallery_refuses_an_unknown_subject_and_a_missing_folder(phantom_bundle, phantom_folders, tmp_path):
    script = _script()
    assert script.main(["--reference", str(phantom_folders["reference"]), "--bundle", str(phantom_bundle),
                        "--subject", "nobody", "-o", str(tmp_path / "g.png")]) == 2
    assert script.main(["--reference", str(phantom_folders["reference"]), "--bundle", str(phantom_bundle),
                        "-o", str(tmp_path / "missing" / "g.png")]) == 2
    assert not (tmp_path / "g.png").exists()
