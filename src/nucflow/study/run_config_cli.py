"""``nucflow run-config --json '{...}' --out run.json``: check a run's configuration and write it.

The workflow's run_config rule passes the run's settings (from the plan) as JSON; the file it
writes changes only when that run's settings change, which is what reruns exactly that run.
"""

from __future__ import annotations

import json

from nucflow.errors import NucflowError
from nucflow.io import read_json
from nucflow.study.layout import fold_suffix
from nucflow.training.config import RunConfig


def add_arguments(parser) -> None:
    parser.add_argument("--json", required=True, help="the run's settings as a JSON object")
    parser.add_argument("--out", required=True, help="run.json to write")
    parser.add_argument("--lr-from", help="lr.json of a range test: its 'lr' replaces the run's learning rate")
    parser.add_argument("--smoothing-from", help="best.json of the smoothing arm ({model: factor}; {model-fK: factor} with folds): "
                                                  "the factor of the run's model (and fold)")
    parser.add_argument("--frem-from", help="best.json of a FREM search: its channels and factor become the run's "
                                            "frem, or, for a run with a channel-dropout block "
                                            "(model_options.deep_block.kind dropout), its channels the block's")


def _fold_of(run_id) -> int | None:
    """The fold a run id names (``...-f2``), None without: in a study with folds the smoothing
    factor is chosen per model and fold (``best.json`` key ``unet-f2``)."""
    from nucflow.study.run_ids import parse_run_id

    try:
        return getattr(parse_run_id(str(run_id)), "fold", None)
    except NucflowError:
        return None


def run(args) -> int:
    try:
        data = json.loads(args.json)
    except json.JSONDecodeError as exc:
        raise NucflowError(f"--json: invalid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise NucflowError("--json: expected a JSON object")
    if args.lr_from:
        lr = read_json(args.lr_from).get("lr") if isinstance(read_json(args.lr_from), dict) else None
        if not isinstance(lr, (int, float)) or not lr > 0:
            raise NucflowError(f"{args.lr_from}: expected a JSON object with a positive number 'lr'")
        data["lr"] = float(lr)
    if args.smoothing_from:
        best = read_json(args.smoothing_from)
        model = f"{data.get('model')}{fold_suffix(_fold_of(data.get('run_id')))}"
        if not isinstance(best, dict) or model not in best:
            raise NucflowError(f"{args.smoothing_from}: no smoothing factor for model {model!r}")
        data["smoothing"] = float(best[model])
    if args.frem_from:
        data = with_searched_frem(data, args.frem_from)
    config = RunConfig.from_dict(data, source=args.out)
    config.to_json(args.out)
    print(f"{args.out}: {config.run_id}")
    return 0


def with_searched_frem(data: dict, path: str) -> dict:
    """``data`` (a run's settings) with the FREM search's chosen ``B`` (and ``X``) from ``path``."""
    best = read_json(path)
    channels = best.get("channels") if isinstance(best, dict) else None
    factor = best.get("factor") if isinstance(best, dict) else None
    if (isinstance(channels, bool) or not isinstance(channels, int) or channels < 1
            or isinstance(factor, bool) or not isinstance(factor, (int, float)) or not factor > 0):
        raise NucflowError(f"{path}: expected a JSON object with an integer 'channels' >= 1 and a number 'factor' > 0")
    options = dict(data.get("model_options") or {})
    block = options.get("deep_block")
    if isinstance(block, dict) and block.get("kind") == "dropout":
        options["deep_block"] = {"kind": "dropout", "channels": channels}
        return {**data, "model_options": options}
    return {**data, "frem": {"channels": channels, "factor": float(factor)}}
