"""The conda environments of the rules agree with pyproject.toml: same package versions, and both
install the nucflow package itself (every rule calls its CLI)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
#: the environments of the workflow's rules (envs/baselines.yaml is for `nucflow baseline`, below)
ENVS = sorted(p for p in (ROOT / "envs").glob("*.yaml") if p.stem != "baselines")
_REQUIREMENT = re.compile(r"^([A-Za-z0-9_.\-]+)\s*(.*)$")


def _name(text: str) -> str:
    return re.sub(r"[-_.]+", "-", text).lower()


def pyproject_requirements() -> dict[str, str]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    out = {}
    for line in data["project"]["dependencies"]:
        name, spec = _REQUIREMENT.match(line.replace(" ", "")).groups()
        out[_name(name)] = spec
    return out


def env_pip_requirements(path: Path) -> tuple[dict[str, str], list[str]]:
    """(name -> specifier, other pip lines) of an environment file's pip section."""
    env = yaml.safe_load(path.read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    requirements, other = {}, []
    for line in pip:
        if line.startswith("-"):
            other.append(line)
            continue
        name, spec = _REQUIREMENT.match(line.replace(" ", "")).groups()
        requirements[_name(name)] = spec
    return requirements, other


def test_there_are_environments():
    assert {p.stem for p in ENVS} == {"torch", "analysis"}


@pytest.mark.parametrize("path", ENVS, ids=lambda p: p.stem)
def test_environment_pins_agree_with_pyproject(path):
    wanted = pyproject_requirements()
    requirements, other = env_pip_requirements(path)
    unknown = sorted(set(requirements) - set(wanted))
    assert not unknown, f"{path.name} installs {unknown}, which pyproject.toml does not require"
    differ = {n: (s, wanted[n]) for n, s in requirements.items() if s != wanted[n]}
    assert not differ, f"{path.name} vs pyproject.toml (env, pyproject): {differ}"
    assert "-e ../" in other, f"{path.name} must install the nucflow package (-e ../)"
    python = [d for d in yaml.safe_load(path.read_text())["dependencies"] if isinstance(d, str) and d.startswith("python")]
    assert python == ["python=3.11"]


@pytest.mark.parametrize("path", ENVS, ids=lambda p: p.stem)
def test_rule_imports_are_pinned(path):
    """Libraries the rules import directly are pinned in the environment, not left to -e ../."""
    requirements, _ = env_pip_requirements(path)
    assert {"torch", "numpy", "scipy", "scikit-image", "pandas", "tifffile", "pyyaml", "jsonschema",
            "matplotlib"} <= set(requirements)


def test_the_baselines_environment_meets_the_extra():
    """envs/baselines.yaml pins versions inside the ``baselines`` extra of pyproject.toml."""
    from packaging.specifiers import SpecifierSet

    extra = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["baselines"]
    wanted = {_name(n): s for n, s in (_REQUIREMENT.match(line.replace(" ", "")).groups() for line in extra)}
    requirements, other = env_pip_requirements(ROOT / "envs" / "baselines.yaml")
    for name, spec in wanted.items():
        pinned = requirements.get(name) or requirements.get(_name(name + "-cpu"))
        assert pinned and pinned.startswith("=="), f"envs/baselines.yaml does not pin {name}"
        assert pinned[2:] in SpecifierSet(spec), f"{name} {pinned} is outside the extra's {spec}"
    assert any(line.startswith("-e ../") for line in other)
