"""The extension's build files, resources and .ui agree with what is on disk and in the code."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
import xml.etree.ElementTree as ET
from pathlib import Path

from PIL import Image

REPO = Path(__file__).resolve().parents[3]
MODULE = REPO / "BrainGen3D"
RAW_URL = "https://raw.githubusercontent.com/braingen3d/BrainGen3D/main/"


def cmake_set(text: str, name: str) -> list[str]:
    """The values of ``set(NAME ...)`` in a CMakeLists text, quotes removed."""
    match = re.search(rf"set\(\s*{name}\s+(.*?)\)", text, re.S)
    assert match, f"{name} is not set"
    return [value.strip('"') for value in re.findall(r'"[^"]*"|\S+', match.group(1))]


def test_module_cmake_lists_every_file_that_exists_and_nothing_else():
    text = (MODULE / "CMakeLists.txt").read_text()
    module_name = cmake_set(text, "MODULE_NAME")[0]
    listed = [entry.replace("${MODULE_NAME}", module_name)
              for entry in cmake_set(text, "MODULE_PYTHON_SCRIPTS") + cmake_set(text, "MODULE_PYTHON_RESOURCES")]
    on_disk = sorted(str(path.relative_to(MODULE)) for path in MODULE.rglob("*")
                     if path.is_file() and "__pycache__" not in path.parts and path.name != "CMakeLists.txt")
    assert len(listed) == len(set(listed)), "a file is listed twice"
    assert sorted(listed) == on_disk
    assert re.search(r"slicerMacroBuildScriptedModule\(.*WITH_GENERIC_TESTS.*\)", text, re.S)
    assert "slicer_add_python_unittest(SCRIPT ${MODULE_NAME}.py)" in text


def test_extension_cmake_has_the_metadata_and_builds_the_module():
    text = (REPO / "CMakeLists.txt").read_text()
    for name in ("EXTENSION_HOMEPAGE", "EXTENSION_CATEGORY", "EXTENSION_CONTRIBUTORS", "EXTENSION_DESCRIPTION",
                 "EXTENSION_ICONURL", "EXTENSION_SCREENSHOTURLS"):
        assert " ".join(cmake_set(text, name)).strip(), name
    assert cmake_set(text, "EXTENSION_DEPENDS") == ["PyTorch"]
    assert cmake_set(text, "EXTENSION_CATEGORY") == ["Synthetic Data"]
    assert "add_subdirectory(BrainGen3D)" in text
    assert "project(BrainGen3D)" in text
    # The icon and screenshot URLs point at files of this repository.
    for name in ("EXTENSION_ICONURL", "EXTENSION_SCREENSHOTURLS"):
        for url in cmake_set(text, name):
            assert url.startswith(RAW_URL) and (REPO / url[len(RAW_URL):]).is_file(), url


def test_icon_is_a_real_128_pixel_image():
    icon = Image.open(MODULE / "Resources" / "Icons" / "BrainGen3D.png")
    assert icon.size == (128, 128)
    colours = icon.convert("RGB").getcolors(maxcolors=1 << 16)
    assert colours is None or len(colours) > 50, "the icon is not a flat placeholder"


def test_requirements_follow_the_engine_dependencies_without_torch():
    from BrainGen3DLib.dependencies import REQUIREMENTS_FILE, read_requirements

    engine = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    expected = sorted(d.replace(" ", "") for d in engine if not d.startswith("torch"))
    assert sorted(read_requirements(REQUIREMENTS_FILE)) == expected
    assert not [r for r in read_requirements(REQUIREMENTS_FILE) if r.startswith("torch")]


def test_module_file_stays_thin_and_uses_translations():
    source = (MODULE / "BrainGen3D.py").read_text()
    assert len(source.splitlines()) < 300
    tree = ast.parse(source)
    classes = {node.name for node in tree.body if isinstance(node, ast.ClassDef)}
    assert {"BrainGen3D", "BrainGen3DWidget", "BrainGen3DLogic", "BrainGen3DTest"} <= classes
    assert "print(" not in source
    for path in (MODULE / "BrainGen3DLib").glob("*.py"):
        assert "print(" not in path.read_text(), path.name


def test_ui_widgets_name_existing_parameters(scene):
    """Every SlicerParameterName in the .ui is a parameter-node field, and every field has its widget."""
    sys.path.insert(0, str(Path(__file__).parent))
    from bg3d_gui import start_qt

    start_qt()
    from BrainGen3DLib.parameters import BrainGen3DParameterNode

    tree = ET.parse(MODULE / "Resources" / "UI" / "BrainGen3D.ui")
    bound = {}
    for widget in tree.iter("widget"):
        for prop in widget.findall("property"):
            if prop.get("name") == "SlicerParameterName":
                bound[prop.find("string").text] = widget.get("class")
    fields = set(BrainGen3DParameterNode.allParameters)
    # Text fields are bound by TextBinding (see widget_helpers.py), composedPrompt has no widget.
    manual = {"prompt", "negativePrompt", "bundlePath", "composedPrompt", "lesionPrompt", "exportFolder"}
    assert set(bound) == fields - manual
    names = [w.get("name") for w in tree.iter("widget")]
    assert len(names) == len(set(names)), "widget names must be unique"
    for name in ("promptTextEdit", "negativePromptTextEdit", "bundlePathLineEdit", "generateButton",
                 "progressBar", "logTextEdit", "generatedVolumeSelector", "regenerateButton"):
        assert name in names


def test_the_panel_offers_engine_samplers_only():
    from braingen3d.sampling.schedulers import SAMPLERS
    from BrainGen3DLib import logic, parameters

    assert set(logic.SAMPLERS) <= set(SAMPLERS) and list(parameters.SAMPLERS) == list(logic.SAMPLERS)
