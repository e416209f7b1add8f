"""sbdlib's layout shows its architecture: a few layers at the top, one metric per module, short modules.

sbdlib/README.md draws the layers and says where to add a dataset, a decoder or a metric; these
tests keep the layout it describes.
"""

import ast
from pathlib import Path

import pytest

import sbdlib
from sbdlib import metrics

PACKAGE = Path(sbdlib.__file__).resolve().parent
MAX_TOP_LEVEL = 12
MAX_LINES = 600
LONGER_ALLOWED: dict[str, str] = {}  # "sbdlib/x.py": why it is one indivisible thing (none today)
LAYERS = ("data", "models", "training", "metrics", "figures", "experiments", "course")
# A registered metric's column and the function that computes it, which its module is named after.
METRIC_FUNCTIONS = {"latents_used": "latents_used", "mig": "mig", "factor_vae": "factor_vae_score",
                    "affine_r2": "grid_affine_r2"}


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def test_the_top_level_is_a_few_named_layers():
    entries = sorted(p.name for p in PACKAGE.iterdir() if p.name != "__pycache__")
    assert len(entries) <= MAX_TOP_LEVEL, f"sbdlib/ holds {len(entries)} entries: {entries}"
    for layer in LAYERS:
        assert (PACKAGE / layer / "__init__.py").exists(), f"sbdlib.{layer} is not a package"


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE.parent)))
def test_no_module_is_longer_than_600_lines(path):
    name = str(path.relative_to(PACKAGE.parent))
    lines = len(path.read_text().splitlines())
    assert lines <= MAX_LINES or name in LONGER_ALLOWED, f"{name} has {lines} lines; split it by job"


def _own_definitions(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    for n in tree.body:
        if isinstance(n, ast.Assign):
            names |= {t.id for t in n.targets if isinstance(t, ast.Name)}
        elif isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name):
            names.add(n.target.id)
    return names


def _functions_and_classes(path: Path) -> set[str]:
    return {n.name for n in ast.parse(path.read_text()).body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}


def test_every_public_function_and_class_has_one_home():
    """No two modules define a function or class of the same name (a package's __init__ only presents them)."""
    homes: dict[str, list[str]] = {}
    for path in _modules():
        if path.name.startswith("__"):
            continue
        module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        for name in _functions_and_classes(path):
            if not name.startswith("_") and name != "main":
                homes.setdefault(name, []).append(module)
    shared = {name: where for name, where in homes.items() if len(where) > 1}
    assert not shared, f"defined in more than one module: {shared}"


def test_no_module_reexports_another_modules_names():
    """Only a package's __init__ presents names it imports; a module imports what it uses."""
    for path in _modules():
        if path.name == "__init__.py":
            continue
        assert "noqa: F401" not in path.read_text(), f"{path.relative_to(PACKAGE.parent)} re-exports names"


def test_package_inits_define_nothing_of_their_own():
    for path in _modules():
        if path.name == "__init__.py":
            assert not _own_definitions(path) - {"__all__", "__version__"}, f"{path.relative_to(PACKAGE.parent)} defines names"


def test_each_registered_metric_is_computed_in_its_own_module():
    """The metric a results column comes from is defined in the metrics module named after it."""
    for column, name in METRIC_FUNCTIONS.items():
        function = getattr(metrics, name)
        assert function.__module__ == f"sbdlib.metrics.{column}", (column, function.__module__)
    registered = {c.name for c in metrics.metric_columns()}
    assert set(METRIC_FUNCTIONS) <= registered
