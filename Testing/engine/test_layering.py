"""The engine's rooms form layers: a module imports only from its own room or from lower layers.

Every import is read with ``ast`` (module level and inside functions), as are the lazy export tables of the
package ``__init__`` files, so a layer cannot reach a higher one even on first use.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "braingen3d"

# Lowest first. Rooms on the same layer do not import each other.
LAYERS: dict[str, int] = {
    "_lazy": 0, "core": 0,
    "io": 1, "prompts": 1, "metrics": 1,
    "export": 2, "sampling": 2,
    "models": 3,
    "bundle": 4,
    "requests": 5,
    "pipelines": 6,
    "batch": 7, "evaluation": 7,
    "worker": 8,
    "cli": 9,
    "": 10,  # the package itself: the public API (``from braingen3d import BrainGenPipeline``), for users only
}


def room(module: str) -> str:
    parts = module.split(".")
    assert parts[0] == "braingen3d", module
    return parts[1] if len(parts) > 1 else ""


def module_name(path: Path) -> list[str]:
    parts = ["braingen3d", *path.relative_to(PACKAGE).with_suffix("").parts]
    return parts[:-1] if parts[-1] == "__init__" else parts


def package_of(path: Path) -> list[str]:
    name = module_name(path)
    return name if path.name == "__init__.py" else name[:-1]


def resolve(path: Path, level: int, module: str | None) -> str:
    base = package_of(path)
    if level:
        base = base[: len(base) - (level - 1)]
        return ".".join(base + ([module] if module else []))
    return module or ""


def imported_modules(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            target = resolve(path, node.level, node.module)
            if target.startswith("braingen3d"):
                # ``from braingen3d import x`` may name a room (a subpackage) or an attribute of the root.
                if target != "braingen3d":
                    found.append((node.lineno, target))
                    continue
                for alias in node.names:
                    if alias.name == "__version__":
                        continue  # the version string, not the API
                    found.append((node.lineno, f"braingen3d.{alias.name}" if alias.name in LAYERS else target))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.startswith("braingen3d")]
        elif isinstance(node, ast.Assign) and any(getattr(t, "id", "") in ("_EXPORTS", "_DICOM") for t in node.targets):
            for value in getattr(node.value, "values", []):
                if isinstance(value, ast.Constant) and isinstance(value.value, str):
                    text = value.value
                    level = len(text) - len(text.lstrip("."))
                    found.append((node.lineno, resolve(path, level, text.lstrip(".")) if level else text))
    return found


def test_every_room_has_a_layer():
    rooms = {p.stem if p.is_file() else p.name for p in PACKAGE.iterdir()
             if (p.is_dir() and (p / "__init__.py").is_file()) or (p.suffix == ".py" and p.stem != "__init__")}
    assert rooms <= set(LAYERS), sorted(rooms - set(LAYERS))


def test_lower_layers_never_import_higher_ones():
    violations = []
    for path in sorted(PACKAGE.rglob("*.py")):
        own = room(".".join(module_name(path)))
        if own == "":
            continue  # the public API re-exports every layer
        for line, target in imported_modules(path):
            other = room(target)
            if other == own:
                continue
            if other not in LAYERS:
                violations.append(f"{path.relative_to(PACKAGE)}:{line} imports {target} (unknown room)")
            elif LAYERS[other] >= LAYERS[own]:
                violations.append(f"{path.relative_to(PACKAGE)}:{line} ({own}, layer {LAYERS[own]}) imports {target} "
                                  f"({other}, layer {LAYERS[other]})")
    assert not violations, "\n".join(violations)
