"""Study configuration: load YAML, validate against ``config/schema.yaml``, fill defaults.

A misspelt or unknown key is an error that names the key and where it sits; a bad value names the
key and what was expected. The Snakefile calls :func:`validate_config` before any rule runs, and
every CLI that takes ``--config`` goes through :func:`load_config`.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from nucflow.errors import NucflowError

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "config" / "schema.yaml"


def _inline_refs(node: Any, defs: dict) -> Any:
    """Replace every ``{$ref: "#/$defs/x", ...}`` by a copy of ``$defs.x`` updated with the sibling
    keys, so a shared definition can carry defaults and a use can override them (the defaults
    filler reads ``default`` where it sits)."""
    if isinstance(node, list):
        return [_inline_refs(item, defs) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        name = node["$ref"].removeprefix("#/$defs/")
        if name not in defs:
            raise NucflowError(f"config schema: unknown $ref {node['$ref']!r}")
        merged = {**copy.deepcopy(defs[name]), **{k: v for k, v in node.items() if k != "$ref"}}
        return _inline_refs(merged, defs)
    return {key: _inline_refs(value, defs) for key, value in node.items()}


def _packaged_schema() -> dict:
    """The schema shipped with the package (repo checkout or installed copy), references inlined."""
    candidates = [SCHEMA_PATH, Path(__file__).with_name("schema.yaml")]
    for path in candidates:
        if path.is_file():
            schema = yaml.safe_load(path.read_text())
            defs = schema.pop("$defs", {})
            return _inline_refs(schema, defs)
    raise NucflowError(f"config schema not found (looked in {', '.join(map(str, candidates))})")


def _extend_with_defaults(validator_class):
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, sub in properties.items():
                if "default" in sub and name not in instance:
                    instance[name] = copy.deepcopy(sub["default"])
        yield from validate_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(validator_class, {"properties": set_defaults})


_Validator = _extend_with_defaults(jsonschema.Draft7Validator)


def _describe(error: jsonschema.ValidationError, source: str) -> str:
    where = "/".join(str(p) for p in error.absolute_path) or "top level"
    if error.validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        extra = sorted(set(error.instance) - set(allowed))
        return (f"{source}: unknown config key {', '.join(repr(e) for e in extra)} at {where}"
                f" (allowed: {', '.join(allowed)})")
    return f"{source}: config key {where}: {error.message}"


def validate_config(config: dict, *, source: str = "config", schema: dict | None = None) -> dict:
    """Validate ``config`` in place (defaults filled in) and return it.

    Raises :class:`NucflowError` naming the first offending key.
    """
    schema = schema if schema is not None else _packaged_schema()
    errors = sorted(_Validator(schema).iter_errors(config), key=lambda e: list(e.absolute_path))
    if errors:
        raise NucflowError(_describe(errors[0], source))
    return config


def load_config(path: str | Path) -> dict:
    """Read and validate a YAML config file."""
    path = Path(path)
    if not path.is_file():
        raise NucflowError(f"{path}: config file not found")
    if path.suffix == ".json":  # the workflow's config snapshots; YAML would read 1e-10 as text
        try:
            config = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise NucflowError(f"{path}: invalid JSON ({exc})") from None
        return validate_config(config, source=str(path)) if isinstance(config, dict) else _not_a_mapping(path)
    try:
        config = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise NucflowError(f"{path}: invalid YAML ({' '.join(str(exc).split())})") from None
    if not isinstance(config, dict):
        raise NucflowError(f"{path}: a config must be a mapping of keys to values")
    return validate_config(config, source=str(path))


def _not_a_mapping(path: Path):
    raise NucflowError(f"{path}: a config must be a mapping of keys to values")


def get(config: dict, dotted: str, default: Any = None) -> Any:
    """``get(cfg, "simulation.n_planes")``: a nested value, or ``default`` if absent."""
    node: Any = config
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return default
        node = node[part]
    return node
