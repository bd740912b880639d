"""Package layering, from every import in the package (``import x``, ``from x import y``, and
imports inside functions alike).

Command modules (``cli.py``, every ``*_cli.py``, ``__main__.py``) and the benchmarks (``bench/``)
are the top layer and may import anything. Every other module may import only the parts that
:data:`ALLOWED` lists for its package or top-level module. A part missing from :data:`ALLOWED`
fails the test, so a new package has to state its rule here.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "nucflow"

#: The package root (``from nucflow import __version__``) and the bottom layer, which every part
#: may use.
BASE = {"nucflow", "errors", "io", "checks", "precision"}

#: part -> the other parts of nucflow its non-command modules may import (besides :data:`BASE`).
ALLOWED: dict[str, set[str]] = {
    "errors": set(), "io": set(), "checks": set(), "precision": set(),
    "worker": set(),  # the job worker knows nothing of the CLI; cli.serve_worker hands it main
    "models": set(),
    "postprocess": set(),
    "evaluation": {"postprocess"},
    "labels": {"postprocess"},
    "simulator": {"labels"},
    "data": {"evaluation", "labels", "postprocess"},
    "config": {"data", "models", "postprocess"},
    "training": {"data", "models"},
    "inference": {"config", "data", "evaluation", "labels", "models", "postprocess", "training"},
    "attribution": {"evaluation", "postprocess"},
    "study": {"config", "data", "evaluation", "inference", "models", "postprocess", "training"},
    # other tools trained on the study's images (no torch: it runs where only TensorFlow is)
    "baselines": {"data"},
    # the result tables as the figures and the report read them (no matplotlib)
    "results": {"models", "study"},
    # the report computes from the result tables and never imports the figures
    "report": {"attribution", "config", "models", "results", "study"},
    "figures": {"evaluation", "models", "results"},
}

#: Imports that break the layers and are still to be removed, each one listed as (module, part).
#: Empty: the report's readers moved from the figures to ``results`` (issue 30). The test fails
#: on any upward import not listed here, and on an entry here that is no longer in the code (so
#: the list only shrinks).
KNOWN_UPWARD: set[tuple[str, str]] = set()


def is_command(relative: Path) -> bool:
    return (relative.name.endswith("_cli.py") or relative.name in ("cli.py", "__main__.py")
            or relative.parts[0] == "bench")


def part_of(relative: Path) -> str:
    return relative.parts[0] if len(relative.parts) > 1 else relative.stem


def imported_parts(path: Path) -> set[str]:
    """The parts of nucflow (package or top-level module) that ``path`` imports, anywhere in it."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        modules = []
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules = [node.module] if node.module != "nucflow" else [f"nucflow.{a.name}" for a in node.names]
        for module in modules:
            parts = module.split(".")
            if parts[0] != "nucflow":
                continue
            target = parts[1] if len(parts) > 1 else "nucflow"
            is_part = (PACKAGE / target).is_dir() or (PACKAGE / f"{target}.py").is_file()
            found.add(target if is_part else "nucflow")  # from nucflow import __version__
    return found


def layer_imports() -> dict[tuple[str, str], str]:
    """(module path, imported part) -> the module's part, for every non-command module."""
    edges = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE)
        if is_command(relative):
            continue
        part = part_of(relative)
        for target in imported_parts(path) - {part}:
            edges[(str(relative), target)] = part
    return edges


def test_every_part_states_its_rule():
    parts = {part_of(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py")
             if not is_command(p.relative_to(PACKAGE))} - {"__init__"}
    assert parts - set(ALLOWED) == set(), "add a rule to ALLOWED for each new package or module"


def test_the_import_parser_sees_every_form(tmp_path):
    source = tmp_path / "m.py"
    source.write_text("import nucflow.data.tiles\nfrom nucflow import io, __version__\n"
                      "def f():\n    from nucflow.models.registry import build\n    import numpy\n")
    assert imported_parts(source) == {"data", "io", "nucflow", "models"}


def test_no_module_imports_above_its_layer():
    wrong = {(module, target) for (module, target), part in layer_imports().items()
             if target not in ALLOWED.get(part, set()) | BASE}
    assert wrong - KNOWN_UPWARD == set(), "upward imports"
    assert KNOWN_UPWARD - wrong == set(), "fixed: remove these from KNOWN_UPWARD"


@pytest.mark.parametrize("part", ["results", "report"])
def test_the_tables_are_read_and_computed_without_a_plotting_library(part):
    """``results`` and ``report`` only read and compute; drawing is the figures' part."""
    for path in sorted((PACKAGE / part).rglob("*.py")):
        tree = ast.parse(path.read_text())
        modules = [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names]
        modules += [node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module]
        assert not {m.split(".")[0] for m in modules} & {"matplotlib", "seaborn"}, path


def test_no_import_cycle_between_parts():
    edges: dict[str, set[str]] = {}
    for (module, target), part in layer_imports().items():
        edges.setdefault(part, set()).add(target)

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        for nxt in edges.get(start, ()):
            if nxt == goal or (nxt not in seen and (seen.add(nxt) or reaches(nxt, goal, seen))):
                return True
        return False

    assert sorted((a, b) for a in edges for b in edges[a] if reaches(b, a, set())) == []


@pytest.mark.parametrize("part", sorted(ALLOWED))
def test_the_rules_form_layers(part):
    """The allowed imports themselves have no cycle: a part never allows one that allows it back."""
    def below(name: str, seen: set[str]) -> set[str]:
        for nxt in ALLOWED.get(name, set()):
            if nxt not in seen:
                seen.add(nxt)
                below(nxt, seen)
        return seen

    assert part not in below(part, set())
