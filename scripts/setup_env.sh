#!/usr/bin/env bash
# Creates (or updates) a virtual environment with BrainGen3D installed.
#
#   bash scripts/setup_env.sh            # the engine and CLI, in ./.venv
#   bash scripts/setup_env.sh --test     # plus training, export, evaluation and test dependencies
#
# Set VENV=/path to use another folder. torch is installed first and pinned by constraints.txt,
# so no other requirement can replace it (a CUDA build from PyPI is several GB); constraints.txt
# pins every other dependency too, so each install gets the versions the tests were run with.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VENV:-$ROOT/.venv}"
EXTRAS=""
if [[ "${1:-}" == "--test" ]]; then
    EXTRAS="[export,train,evaluate,test]"
fi

if [[ ! -x "$VENV/bin/python" ]]; then
    python3 -m venv "$VENV"
fi
PY="$VENV/bin/python"
"$PY" -m pip install --quiet --upgrade pip
"$PY" -m pip install --quiet "torch==2.13.0"
"$PY" -m pip install --quiet -c "$ROOT/constraints.txt" -e "$ROOT$EXTRAS"

# nnunetv2 pulls timm, which pulls torchvision; PyPI's torchvision is built for CUDA torch and
# fails to import next to the CPU wheel, which in turn breaks transformers' model imports.
# Nothing here needs torchvision, so a broken one is removed.
if "$PY" -m pip show --quiet torchvision >/dev/null 2>&1 && ! "$PY" -c "import torchvision" >/dev/null 2>&1; then
    echo "setup_env: removing torchvision (its PyPI build does not load with the CPU torch wheel)" >&2
    "$PY" -m pip uninstall --quiet -y torchvision
fi
echo "setup_env: ready: $VENV" >&2
