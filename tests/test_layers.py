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
    "inference": {"attribution", "figures", "study", "report"},
    "attribution": {"figures", "study", "report"},
    "figures": {"report"},
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


def package_cycles() -> list[tuple[str, str]]:
    packages = sorted(p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").is_file())
    edges = {package: set(imported_packages(package)) for package in packages}

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        for nxt in edges.get(start, ()):
            if nxt == goal or (nxt not in seen and (seen.add(nxt) or reaches(nxt, goal, seen))):
                return True
        return False

    return sorted((a, b) for a in packages for b in edges[a] if reaches(b, a, set()))


def test_no_import_cycle_between_packages():
    assert package_cycles() == []


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_lower_packages_do_not_import_higher_ones(package):
    imports = imported_packages(package)
    wrong = {target: sorted(modules) for target, modules in imports.items() if target in FORBIDDEN[package]}
    assert not wrong, f"{package} imports {wrong}"
