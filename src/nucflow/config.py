"""Study configuration: load YAML, validate against ``config/schema.yaml``, fill defaults.

A misspelt or unknown key is an error that names the key and where it sits; a bad value names the
key and what was expected. The Snakefile calls :func:`validate_config` before any rule runs, and
every CLI that takes ``--config`` goes through :func:`load_config`.

Beyond the schema, :func:`validate_config` checks what would otherwise fail only deep into a run:
``postprocess.method`` and ``postprocess.params`` (and the extensions arm's multiscale overrides)
against the post-processing registry, ``tiles.size`` against the simulated image sizes, and, with
``data.source: manifest``, that ``data.manifest`` exists (relative paths from the working
directory, as Snakemake reads them).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from nucflow.data.shapes import check_tile_fits
from nucflow.errors import NucflowError
from nucflow.models.registry import model_names

#: The schema ships inside the package (an installed nucflow, not only a source checkout, finds it);
#: ``config/schema.yaml`` in the repository is a link to it, next to the study configs.
SCHEMA_PATH = Path(__file__).with_name("schema.yaml")


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
    if not SCHEMA_PATH.is_file():
        raise NucflowError(f"{SCHEMA_PATH}: config schema missing from the installed package; reinstall nucflow")
    schema = yaml.safe_load(SCHEMA_PATH.read_text())
    defs = schema.pop("$defs", {})
    return _inline_refs(schema, defs)


def _extend_with_defaults(validator_class):
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, sub in properties.items():
                if "default" in sub and name not in instance:
                    instance[name] = copy.deepcopy(sub["default"])
        yield from validate_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(validator_class, {"properties": set_defaults})


def _registry_member(validator, registry, instance, schema):
    """The schema keywords ``registry: model`` and ``registry: method``: the value names an entry of
    the model registry or of the post-processing registry, read when the config is checked (so the
    schema lists no model or method names of its own)."""
    if registry == "model":
        names = model_names()
    elif registry == "method":
        from nucflow.postprocess.registry import POSTPROCESSORS  # scipy/skimage, no torch

        names = tuple(POSTPROCESSORS)
    else:
        raise NucflowError(f"config schema: unknown registry {registry!r}")
    if isinstance(instance, str) and instance not in names:
        yield jsonschema.ValidationError(f"{instance!r} is not a registered {registry} (registered: "
                                         f"{', '.join(names)})")


_Validator = jsonschema.validators.extend(_extend_with_defaults(jsonschema.Draft202012Validator),
                                          {"registry": _registry_member})


def _describe(error: jsonschema.ValidationError, source: str) -> str:
    where = "/".join(str(p) for p in error.absolute_path) or "top level"
    if error.validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        extra = sorted(set(error.instance) - set(allowed))
        return (f"{source}: unknown config key {', '.join(repr(e) for e in extra)} at {where}"
                f" (allowed: {', '.join(allowed)})")
    return f"{source}: config key {where}: {error.message}"


def validate_config(config: dict, *, source: str = "config", schema: dict | None = None,
                    check_paths: bool = True) -> dict:
    """Validate ``config`` in place (defaults filled in) and return it.

    Raises :class:`NucflowError` naming the first offending key. ``check_paths`` also requires the
    ``data.manifest`` of ``data.source: manifest`` to exist.
    """
    schema = schema if schema is not None else _packaged_schema()
    trains = bool({"tiles", "training", "arms"} & set(config))  # not a data-only section snapshot
    errors = sorted(_Validator(schema).iter_errors(config), key=lambda e: list(e.absolute_path))
    if errors:
        raise NucflowError(_describe(errors[0], source))
    _check_postprocess(config, source)
    if trains:  # the workflow's snapshot of the simulation section alone has no tiles to check
        _check_tile_size(config, source)
    if check_paths:
        _check_manifest_path(config, source)
    return config


def _check_postprocess(config: dict, source: str) -> None:
    """The post-processing method and parameters exist (before training, not at the postprocess job)."""
    from nucflow.postprocess.registry import POSTPROCESSORS, make_params  # scipy/skimage, no torch

    method = config["postprocess"]["method"]
    if method not in POSTPROCESSORS:
        raise NucflowError(f"{source}: config key postprocess/method: {method!r} is not a post-processing method "
                           f"(choose from {', '.join(POSTPROCESSORS)})")
    checks = [("postprocess/params", method, config["postprocess"]["params"])]
    extensions = config.get("arms", {}).get("extensions", {})
    if "multiscale" in extensions:
        checks.append(("arms/extensions/multiscale", "multiscale", extensions["multiscale"]))
    for key, name, params in checks:
        try:
            make_params(name, **params)
        except NucflowError as exc:
            raise NucflowError(f"{source}: config key {key}: {exc}") from None


def _check_tile_size(config: dict, source: str) -> None:
    """Training tiles must not be mostly padding on the simulated images (a user manifest's image
    sizes are checked by ``nucflow tiles``)."""
    if config["data"]["source"] != "simulated":
        return
    size = config["tiles"]["size"]
    for name, dataset in sorted(config["simulation"]["datasets"].items()):
        height, width = dataset["image_size"]
        check_tile_fits(size, height, width, f"{source}: config key tiles/size: {size} px",
                        f"images of simulated data set {name}")


def _check_manifest_path(config: dict, source: str) -> None:
    if config["data"]["source"] != "manifest":
        return
    path = Path(config["data"]["manifest"])
    if not path.is_file():
        where = f" (from {Path.cwd()})" if not path.is_absolute() else ""
        raise NucflowError(f"{source}: config key data/manifest: {path}{where}: file not found; data.source is "
                           "'manifest', so the manifest must exist before the study runs (nucflow import or "
                           "nucflow validate first)")


#: The key by which a YAML file opts into Snakemake's YTE templating, whose expressions are Python.
YTE_KEY = "__use_yte__"


def yte_configs(paths) -> list[str]:
    """The config files among ``paths`` that opt into YTE templating (``__use_yte__: true``).

    Snakemake evaluates such a file's expressions as Python when it loads it, before any nucflow
    code runs, so a study config from someone else can run code on ``snakemake -n``. nucflow cannot
    change that loader; the workflow warns about these files (read here with ``yaml.safe_load``,
    which runs nothing). Unreadable files are skipped: Snakemake has reported them already.
    """
    found = []
    for path in paths:
        try:
            with open(path, encoding="utf-8") as stream:
                content = yaml.safe_load(stream)
        except (OSError, yaml.YAMLError, UnicodeDecodeError):
            continue
        if isinstance(content, dict) and content.get(YTE_KEY):
            found.append(str(path))
    return found


def load_config(path: str | Path, *, check_paths: bool = False) -> dict:
    """Read and validate a YAML (or JSON) config file.

    ``check_paths`` as in :func:`validate_config`; off by default, since the commands that read a
    config inside a study run after the workflow checked its paths, and a config may be planned
    before its data are imported.
    """
    path = Path(path)
    if not path.is_file():
        raise NucflowError(f"{path}: config file not found")
    if path.suffix == ".json":  # the workflow's config snapshots; YAML would read 1e-10 as text
        try:
            config = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise NucflowError(f"{path}: invalid JSON ({exc})") from None
        if not isinstance(config, dict):
            _not_a_mapping(path)
        return validate_config(config, source=str(path), check_paths=check_paths)
    try:
        config = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise NucflowError(f"{path}: invalid YAML ({' '.join(str(exc).split())})") from None
    if not isinstance(config, dict):
        raise NucflowError(f"{path}: a config must be a mapping of keys to values")
    return validate_config(config, source=str(path), check_paths=check_paths)


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


def schema_default(section: str, key: str) -> Any:
    """The schema's default of ``config[section][key]``.

    The schema is the one home of defaults: command-line options that mirror a config key default to
    ``None`` and fall back to this (:func:`fill_option_defaults`), so a changed default cannot
    disagree between the study and the commands.
    """
    return _defaults_of(validate_config({}, source="config schema defaults", check_paths=False), section, key)


def fill_option_defaults(args, options: dict[str, tuple[str, str]]) -> None:
    """Set each option of ``args`` left at ``None`` to the schema default of its ``(section, key)``."""
    missing = {option: where for option, where in options.items() if getattr(args, option) is None}
    if not missing:
        return
    defaults = validate_config({}, source="config schema defaults", check_paths=False)
    for option, (section, key) in missing.items():
        setattr(args, option, _defaults_of(defaults, section, key))


def _defaults_of(defaults: dict, section: str, key: str) -> Any:
    try:
        return copy.deepcopy(defaults[section][key])
    except KeyError:
        raise NucflowError(f"config schema: no default for {section}.{key}") from None
