"""Installing the engine and its requirements into Slicer's Python, on first use, after one confirmation.

* PyTorch comes from the PyTorch extension (``PyTorchUtils``), which picks the CPU or CUDA build that
  fits the machine. pip is never asked for torch: on Linux PyPI's default torch wheel is a CUDA build.
  While the rest is installed, a constraints file pins the installed torch version, so no dependency
  can replace it.
* The engine (``braingen3d``) comes from the source checkout the module runs from
  (``pip install <repo root>``), else from the package index; its third-party requirements are
  listed in ``Resources/requirements.txt``.
* ``slicer.packaging.pip_ensure`` is used when Slicer has it (``slicer.pydeps`` in 5.11), else
  ``slicer.util.pip_install``.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import inspect
import logging
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .bundle_card import source_checkout_root
from .i18n import _

logger = logging.getLogger(__name__)

ENGINE_DISTRIBUTION = "braingen3d"
TORCH_DISTRIBUTION = "torch"
TORCH_REQUIREMENT = ">=2.3"
REQUIREMENTS_FILE = Path(__file__).resolve().parents[1] / "Resources" / "requirements.txt"


class DependencyError(RuntimeError):
    """A dependency is missing and cannot be installed from here; the message says what to do."""


def read_requirements(path: str | os.PathLike = REQUIREMENTS_FILE) -> list[str]:
    """The requirement lines of a requirements file (comments, blanks and pip options skipped)."""
    lines = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        line = line.split(" #", 1)[0].strip()
        if line and not line.startswith(("#", "-")):
            lines.append(line)
    return lines


def _requirement_name(requirement: str) -> str:
    for separator in ("[", "<", ">", "=", "!", "~", ";", "@", " "):
        requirement = requirement.split(separator, 1)[0]
    return requirement.strip()


def is_satisfied(requirement: str) -> bool:
    """Whether ``requirement`` is installed, checked from package metadata (nothing is imported)."""
    try:
        installed = importlib.metadata.version(_requirement_name(requirement))
    except importlib.metadata.PackageNotFoundError:
        return False
    try:
        from packaging.requirements import Requirement
    except ImportError:  # without packaging, presence is all we can check
        return True
    parsed = Requirement(requirement)
    return parsed.url is not None or parsed.specifier.contains(installed, prereleases=True)


def engine_requirement() -> str:
    """``braingen3d @ file:///<checkout>`` when running from a source checkout, else ``braingen3d``."""
    root = source_checkout_root()
    return f"{ENGINE_DISTRIBUTION} @ {root.as_uri()}" if root is not None else ENGINE_DISTRIBUTION


@dataclass
class InstallPlan:
    """What is missing.

    Attributes:
        torch_missing: PyTorch is not installed.
        packages: pip requirements to install (never torch).
    """

    torch_missing: bool = False
    packages: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.torch_missing and not self.packages


def plan_installation(requirements_file: str | os.PathLike = REQUIREMENTS_FILE) -> InstallPlan:
    """Check what the worker needs and is not installed."""
    plan = InstallPlan(torch_missing=not is_satisfied(TORCH_DISTRIBUTION + TORCH_REQUIREMENT))
    if not is_satisfied(ENGINE_DISTRIBUTION):
        plan.packages.append(engine_requirement())
    plan.packages += [r for r in read_requirements(requirements_file)
                      if _requirement_name(r).lower() != TORCH_DISTRIBUTION and not is_satisfied(r)]
    return plan


def confirmation_text(plan: InstallPlan) -> str:
    """The one question asked before installing."""
    items = []
    if plan.torch_missing:
        items.append(_("PyTorch (through the PyTorch extension; a CUDA build only if an NVIDIA GPU is present)"))
    items += plan.packages
    return (_("BrainGen3D needs these Python packages, which are not installed yet:") + "\n\n  • "
            + "\n  • ".join(items) + "\n\n"
            + _("Installing them may take several minutes and needs a network connection. Install now?"))


def install_torch(import_module: Callable[[str], object] = importlib.import_module) -> None:
    """Install PyTorch through the PyTorch extension.

    Raises:
        DependencyError: the PyTorch extension is absent or the installation did not happen.
    """
    try:
        torch_utils = import_module("PyTorchUtils")
    except ImportError as exc:
        raise DependencyError(_(
            "PyTorch is not installed. Install the 'PyTorch' extension from the Extensions Manager, restart "
            "Slicer, and press Generate again. (BrainGen3D does not install torch with pip, because pip could "
            "pick a CUDA build that does not fit this computer.)")) from exc
    torch = torch_utils.PyTorchUtilsLogic().installTorch(askConfirmation=False,
                                                         torchVersionRequirement=TORCH_REQUIREMENT)
    if torch is None:
        raise DependencyError(_("PyTorch was not installed. Install it from the PyTorch Utils module, then press "
                                "Generate again."))


def torch_constraints_file(folder: str | os.PathLike | None = None) -> Path:
    """A pip constraints file pinning the installed torch (``torch==<version>``)."""
    version = importlib.metadata.version(TORCH_DISTRIBUTION)
    handle, name = tempfile.mkstemp(prefix="braingen3d-constraints-", suffix=".txt", dir=folder)
    with os.fdopen(handle, "w", encoding="utf-8") as stream:
        stream.write(f"{TORCH_DISTRIBUTION}=={version}\n")
    return Path(name)


def _slicer_pip_ensure() -> Callable | None:
    for name in ("slicer.packaging", "slicer.pydeps"):
        try:
            function = getattr(importlib.import_module(name), "pip_ensure", None)
        except ImportError:
            continue
        if function is not None:
            return function
    return None


def pip_install(requirements: list[str], constraints: Path) -> None:
    """Install ``requirements`` with Slicer's pip helpers, honouring ``constraints``."""
    ensure = _slicer_pip_ensure()
    if ensure is not None:
        accepted = inspect.signature(ensure).parameters
        options = {"constraints": str(constraints), "requester": "BrainGen3D", "prompt_install": False}
        ensure(list(requirements), **{k: v for k, v in options.items() if k in accepted})
        return
    import slicer

    slicer.util.pip_install(list(requirements) + ["--constraint", str(constraints)])


def ensure_dependencies(confirm: Callable[[str], bool], plan: InstallPlan | None = None,
                        torch_installer: Callable[[], None] = install_torch,
                        installer: Callable[[list[str], Path], None] = pip_install) -> bool:
    """Make sure the worker can run; ask once before installing anything.

    Args:
        confirm: shows the question and returns the user's answer.
        plan: what is missing (default: checked now).
        torch_installer: installs PyTorch (default: the PyTorch extension).
        installer: installs pip requirements with a constraints file.

    Returns:
        True when everything is installed, False when the user declined.

    Raises:
        DependencyError: something is missing and cannot be installed here; the message says what to do.
    """
    plan = plan or plan_installation()
    if plan.empty:
        return True
    if not confirm(confirmation_text(plan)):
        logger.info("The user declined installing BrainGen3D's dependencies")
        return False
    if plan.torch_missing:
        torch_installer()
    if plan.packages:
        constraints = torch_constraints_file()
        try:
            installer(plan.packages, constraints)
        except Exception as exc:  # noqa: BLE001 - pip failures come in many types
            raise DependencyError(_("Installing {packages} failed: {error}. Check the network connection and the "
                                    "Python console, then press Generate again.").format(
                packages=", ".join(plan.packages), error=exc)) from exc
        finally:
            constraints.unlink(missing_ok=True)
    importlib.invalidate_caches()
    still_missing = plan_installation()
    if not still_missing.empty:
        raise DependencyError(_("After installation these are still missing: {items}. Restart Slicer and try "
                                "again.").format(items=", ".join(still_missing.packages or ["torch"])))
    return True
