"""The optional packages of the evaluation (the ``evaluate`` extra), imported on first use."""

from __future__ import annotations

import importlib
from types import ModuleType

from .engine_adapter import InvalidInputError

EXTRA_HINT = 'Install them with: pip install "braingen3d[evaluate]" (add -c constraints.txt to keep your torch).'

# import name -> (distribution to install, what needs it)
OPTIONAL_MODULES = {
    "sklearn": ("scikit-learn", "the machine reader (logistic regression, cross-validation)"),
    "frd_score": ("frd-score", "the Fréchet Radiomics Distance"),
    "radiomics": ("pyradiomics-bhklab", "the Fréchet Radiomics Distance (radiomics features)"),
    "matplotlib": ("matplotlib", "the histogram plots"),
}


def require(module: str) -> ModuleType:
    """Import ``module`` or raise ``InvalidInputError`` naming the package and the extra that provide it."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        distribution, purpose = OPTIONAL_MODULES.get(module.split(".")[0], (module, "the evaluation"))
        raise InvalidInputError(
            f"The evaluation needs {distribution} for {purpose}, but it cannot be imported ({error}). {EXTRA_HINT}"
        ) from error


def check_all() -> None:
    """Fail before any work if an optional package of the evaluation is missing."""
    missing = []
    for module, (distribution, _) in OPTIONAL_MODULES.items():
        try:
            importlib.import_module(module)
        except ImportError:
            missing.append(distribution)
    if missing:
        raise InvalidInputError(f"The evaluation needs {', '.join(missing)}, which cannot be imported. {EXTRA_HINT}")
