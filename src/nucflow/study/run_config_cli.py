"""``nucflow run-config --json '{...}' --out run.json``: check a run's configuration and write it.

The workflow's run_config rule passes the run's settings (from the plan) as JSON; the file it
writes changes only when that run's settings change, which is what reruns exactly that run.
"""

from __future__ import annotations

import json

from nucflow.errors import NucflowError
from nucflow.training.config import RunConfig


def add_arguments(parser) -> None:
    parser.add_argument("--json", required=True, help="the run's settings as a JSON object")
    parser.add_argument("--out", required=True, help="run.json to write")


def run(args) -> int:
    try:
        data = json.loads(args.json)
    except json.JSONDecodeError as exc:
        raise NucflowError(f"--json: invalid JSON ({exc})") from None
    config = RunConfig.from_dict(data, source=args.out)
    config.to_json(args.out)
    print(f"{args.out}: {config.run_id}")
    return 0
