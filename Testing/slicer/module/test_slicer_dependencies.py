"""Dependency installation: one confirmation, torch only via PyTorchUtils, pip pinned to the installed torch."""

from __future__ import annotations

import importlib.metadata
import sys
import types

import pytest

from BrainGen3DLib import dependencies
from BrainGen3DLib.dependencies import DependencyError, InstallPlan, ensure_dependencies, install_torch, pip_install


def test_nothing_missing_asks_nothing():
    asked = []
    assert ensure_dependencies(asked.append, plan=InstallPlan())
    assert asked == []


def test_the_real_environment_needs_nothing():
    """This venv has the engine and its requirements installed (editable), so the plan is empty."""
    plan = dependencies.plan_installation()
    assert not plan.torch_missing and plan.packages == []


def test_declining_installs_nothing():
    calls = []
    plan = InstallPlan(torch_missing=True, packages=["monai>=1.5"])
    assert not ensure_dependencies(lambda text: calls.append(text) or False, plan=plan,
                                   torch_installer=lambda: calls.append("torch"),
                                   installer=lambda *args: calls.append("pip"))
    assert len(calls) == 1 and "PyTorch" in calls[0] and "monai>=1.5" in calls[0]


def test_one_confirmation_then_torch_then_pip_with_torch_pinned(monkeypatch):
    calls = []

    def installer(requirements, constraints):
        calls.append(("pip", list(requirements), constraints.read_text()))

    monkeypatch.setattr(dependencies, "plan_installation", lambda *args: InstallPlan())
    plan = InstallPlan(torch_missing=True, packages=["braingen3d", "monai>=1.5"])
    assert ensure_dependencies(lambda text: calls.append("confirm") or True, plan=plan,
                               torch_installer=lambda: calls.append("torch"), installer=installer)
    torch_version = importlib.metadata.version("torch")
    assert calls == ["confirm", "torch", ("pip", ["braingen3d", "monai>=1.5"], f"torch=={torch_version}\n")]


def test_a_pip_failure_says_what_to_do(monkeypatch):
    def failing(requirements, constraints):
        raise RuntimeError("network unreachable")

    with pytest.raises(DependencyError, match="network unreachable.*Check the network connection"):
        ensure_dependencies(lambda text: True, plan=InstallPlan(packages=["monai>=1.5"]), installer=failing)


def test_without_the_pytorch_extension_the_message_says_to_install_it():
    def no_module(name):
        raise ImportError(name)

    with pytest.raises(DependencyError, match="Install the 'PyTorch' extension from the Extensions Manager"):
        install_torch(import_module=no_module)


def test_torch_comes_from_pytorchutils_with_a_version_requirement():
    seen = {}

    class Logic:
        def installTorch(self, askConfirmation, torchVersionRequirement):
            seen.update(ask=askConfirmation, requirement=torchVersionRequirement)
            return object()

    install_torch(import_module=lambda name: types.SimpleNamespace(PyTorchUtilsLogic=Logic))
    assert seen == {"ask": False, "requirement": ">=2.3"}

    class Refusing(Logic):
        def installTorch(self, **kwargs):
            return None

    with pytest.raises(DependencyError, match="PyTorch was not installed"):
        install_torch(import_module=lambda name: types.SimpleNamespace(PyTorchUtilsLogic=Refusing))


def test_pip_ensure_is_preferred_and_gets_only_the_arguments_it_accepts(monkeypatch, tmp_path):
    seen = {}

    def pip_ensure(requirements, constraints=None, requester=None):  # an older signature: no prompt_install
        seen.update(requirements=requirements, constraints=constraints, requester=requester)

    monkeypatch.setitem(sys.modules, "slicer.packaging", types.SimpleNamespace(pip_ensure=pip_ensure))
    pip_install(["monai>=1.5"], tmp_path / "c.txt")
    assert seen == {"requirements": ["monai>=1.5"], "constraints": str(tmp_path / "c.txt"), "requester": "BrainGen3D"}


def test_old_slicer_falls_back_to_util_pip_install(monkeypatch, tmp_path):
    import slicer

    calls = []
    monkeypatch.setitem(sys.modules, "slicer.packaging", None)
    monkeypatch.setitem(sys.modules, "slicer.pydeps", None)
    monkeypatch.setattr(slicer.util, "pip_install", calls.append)
    pip_install(["einops>=0.7"], tmp_path / "c.txt")
    assert calls == [["einops>=0.7", "--constraint", str(tmp_path / "c.txt")]]


def test_plan_never_asks_pip_for_torch(tmp_path, monkeypatch):
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("# comment\ntorch>=2.0\nnot-a-real-package-bg3d>=1.0  # why\n--index-url x\nnumpy>=1.0\n")
    monkeypatch.setattr(dependencies, "is_satisfied",
                        lambda r: r.startswith(("torch", "numpy", "braingen3d")))
    plan = dependencies.plan_installation(requirements)
    assert plan.packages == ["not-a-real-package-bg3d>=1.0"]
    assert not plan.torch_missing


def test_engine_requirement_points_at_this_checkout():
    from pathlib import Path

    repo = Path(__file__).resolve().parents[3]
    assert dependencies.engine_requirement() == f"braingen3d @ {repo.as_uri()}"
