"""Package layering: lower packages never import higher ones (command modules, *_cli.py, are the
top layer and may import anything)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "nucflow"

#: package -> packages it must not import (outside its command modules)
FORBIDDEN = {
    "models": {"data", "training", "inference", "postprocess", "evaluation", "attribution", "figures", "study"},
    "postprocess": {"data", "models", "training", "inference", "evaluation", "attribution", "figures", "study"},
    "evaluation": {"data", "models", "training", "inference", "attribution", "figures", "study"},
    "data": {"models", "training", "inference", "attribution", "figures", "study"},
    "training": {"inference", "evaluation", "attribution", "figures", "study"},
    "inference": {"attribution", "figures", "study"},
}


def imported_packages(package: str) -> dict[str, set[str]]:
    """{nucflow package imported: modules importing it} of a package's non-command modules, counting
    imports inside functions too."""
    found: dict[str, set[str]] = {}
    for path in sorted((PACKAGE / package).rglob("*.py")):
        if path.name.endswith("_cli.py"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("nucflow."):
                target = node.module.split(".")[1]
                if (PACKAGE / target).is_dir() and target != package:
                    found.setdefault(target, set()).add(str(path.relative_to(PACKAGE)))
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_lower_packages_do_not_import_higher_ones(package):
    imports = imported_packages(package)
    wrong = {target: sorted(modules) for target, modules in imports.items() if target in FORBIDDEN[package]}
    assert not wrong, f"{package} imports {wrong}"
