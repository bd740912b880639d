"""``nucflow postprocess``: probability-map TIFFs -> instance-label TIFFs, by a named method.

Each input ``<stem>_prob.tif`` (``<stem>_prob_scales.tif``, or ``<stem>.tif``) becomes ``<out-dir>/<stem>_labels.tif``. The
TIFF holds what the method expects: (H, W) for published / watershed / seeded, (3, H, W)
background / interior / boundary for three_class, (S, H, W) one map per inference scale for
multiscale. Labels are written as uint16 when the object count fits, else uint32. The parameters
used (defaults plus overrides) are written to ``<out-dir>/postprocess.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import numpy as np

from nucflow.errors import NucflowError
from nucflow.io import read_image, write_json, write_tiff
from nucflow.postprocess.registry import DEFAULT_METHOD, POSTPROCESSORS, make_params, parse_param_strings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    method = parser.add_argument_group("method")
    method.add_argument("--method", default=DEFAULT_METHOD, choices=sorted(POSTPROCESSORS),
                        help=f"post-processing method (default: {DEFAULT_METHOD}, as published)")
    method.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                        help="override one method parameter, e.g. threshold=0.4 or thresholds=0.6,0.3 "
                             "(repeatable; unknown keys are an error)")
    method.add_argument("--params-json", metavar="JSON",
                        help="method parameters as one JSON object, e.g. '{\"thresholds\": [0.6, 0.3]}' "
                             "(what the workflow passes; --param options override its keys)")
    io = parser.add_argument_group("input and output")
    io.add_argument("--out-dir", required=True, type=Path,
                    help="folder for <stem>_labels.tif files and postprocess.json")
    io.add_argument("probs", nargs="+", type=Path, metavar="PROB_TIF",
                    help="probability-map TIFFs (float32 in [0, 1]); names ending _prob.tif lose the suffix")


def output_name(path: Path) -> str:
    """``a/img7_prob.tif`` -> ``img7_labels.tif``."""
    stem = path.name
    for suffix in (".tiff", ".tif"):
        if stem.lower().endswith(suffix):
            stem = stem[: -len(suffix)]
            break
    for suffix in ("_prob_scales", "_prob"):
        if stem.endswith(suffix):
            stem = stem[: -len(suffix)]
            break
    return f"{stem}_labels.tif"


def params_from_json(text: str | None) -> dict:
    """The ``--params-json`` object (``{}`` without one); anything else is a one-line error."""
    if text is None:
        return {}
    try:
        params = json.loads(text)
    except json.JSONDecodeError as error:
        raise NucflowError(f"--params-json: not JSON ({error.msg} at character {error.pos})") from None
    if not isinstance(params, dict):
        raise NucflowError(f"--params-json: expected a JSON object of parameters, got {text[:40]!r}")
    return params


def _label_dtype(labels: np.ndarray):
    return np.uint16 if int(labels.max(initial=0)) <= np.iinfo(np.uint16).max else np.uint32


def run(args: argparse.Namespace) -> int:
    function = POSTPROCESSORS[args.method].function
    params = make_params(args.method, **{**params_from_json(args.params_json),
                                         **parse_param_strings(args.method, args.param)})
    names = [output_name(p) for p in args.probs]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise NucflowError(f"--out-dir: several inputs would write {duplicates[0]}")
    for path, name in zip(args.probs, names):
        prob = read_image(path)
        if np.issubdtype(prob.dtype, np.floating):
            prob = prob.astype(np.float64, copy=False)
        try:
            labels = function(prob, params)
        except NucflowError as exc:
            raise NucflowError(f"{path}: {exc}") from None
        write_tiff(args.out_dir / name, labels.astype(_label_dtype(labels)))
    write_json(args.out_dir / "postprocess.json",
               {"method": args.method, "params": dataclasses.asdict(params)})
    return 0
