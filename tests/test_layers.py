"""The package's architecture, checked from the source: layers import downwards only, and no module uses
another module's private (leading-underscore) names."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "hsct_analysis"
#: Each layer and the layers it may import (besides itself).
ALLOWED = {"stats": set(), "cohort": {"stats"}, "paper": {"stats", "cohort"}, "book": {"stats", "cohort", "paper"}}
MODULES = sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def layer_of(path: Path) -> str | None:
    parts = path.relative_to(PACKAGE).parts
    return parts[0] if len(parts) > 1 else None


def imported_modules(tree: ast.AST) -> list[tuple[str, list[str], int]]:
    """(module, names, line) for every import of hsct_analysis, wherever it stands (also inside functions)."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("hsct_analysis"):
            found.append((node.module, [a.name for a in node.names], node.lineno))
        elif isinstance(node, ast.Import):
            found += [(a.name, [], node.lineno) for a in node.names if a.name.startswith("hsct_analysis")]
    return found


def test_the_four_layers_exist():
    assert {layer_of(p) for p in MODULES} - {None} == set(ALLOWED)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_point_downwards_only(path):
    layer = layer_of(path)
    if layer is None:
        return
    for module, names, line in imported_modules(ast.parse(path.read_text())):
        parts = module.split(".")
        # "from hsct_analysis import stats" names the layer; the root's own attributes (__version__) belong to none
        targets = [parts[1]] if len(parts) > 1 else [n for n in names if n in ALLOWED]
        for target in targets:
            assert target == layer or target in ALLOWED[layer], f"{path.name}:{line} ({layer}) imports {module}"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_uses_another_modules_private_names(path):
    tree = ast.parse(path.read_text())
    imported = {}
    for module, names, line in imported_modules(tree):
        private = [n for n in names if n.startswith("_") and not n.startswith("__")]
        assert not private, f"{path.name}:{line} imports private {private} from {module}"
        imported.update({n: module for n in names})
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in imported
            and node.attr.startswith("_")
            and not node.attr.startswith("__")
        ):
            raise AssertionError(f"{path.name}:{node.lineno} uses private {node.value.id}.{node.attr}")
