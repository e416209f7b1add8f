#!/usr/bin/env bash
# The GPU check (benchmarks/gpu_check.py): CUDA tests, paper-size speed, notebook 03 on the GPU.
# Run from anywhere in a clone with the project installed; PYTHON picks the interpreter (default: .venv's, else python3).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
python="${PYTHON:-}"
if [ -z "$python" ]; then
  if [ -x "$root/.venv/bin/python" ]; then python="$root/.venv/bin/python"; else python="python3"; fi
fi
if ! "$python" -c "import torch, sbdlib" >/dev/null 2>&1; then
  echo "gpu_check: $python cannot import torch and sbdlib; install the project first (pip install -e '.[dev]') or set PYTHON=/path/to/python" >&2
  exit 2
fi
exec "$python" "$root/benchmarks/gpu_check.py" "$@"
