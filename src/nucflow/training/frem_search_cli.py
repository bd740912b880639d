"""``nucflow frem-search``: the TPE search of FREM's ``B`` (channels) and ``X`` (factor) for one base
run; writes study.db, trials.csv, best.json and search.json to ``--out-dir`` and resumes a killed
search there (see :mod:`nucflow.training.frem_search`)."""

from __future__ import annotations

import argparse
import json
import sys

from nucflow.errors import NucflowError
from nucflow.io import read_json
from nucflow.training.config import RunConfig, set_threads
from nucflow.training.frem_search import FremSearch, SearchSettings  # torch: counted as start-up
from nucflow.training.train import quiet_lightning


def add_arguments(parser: argparse.ArgumentParser) -> None:
    io = parser.add_argument_group("input and output")
    io.add_argument("--run", required=True, help="run.json of the base run every trial trains (with FREM added)")
    io.add_argument("--out-dir", required=True, help="folder of the study (study.db, trials/, trials.csv, best.json)")
    search = parser.add_argument_group("search")
    search.add_argument("--settings-json", required=True,
                        help="the search settings as a JSON object: n_trials, channels [min, max|null], "
                             "factor [min, max], seed, max_epochs, pruning, pruner_startup_trials, "
                             "pruner_warmup_epochs (the frem_search arm's keys)")
    search.add_argument("--threads", type=int,
                        help="CPU threads for torch (match the Snakemake rule's threads; default: torch's)")
    search.add_argument("--quiet", action="store_true", help="no per-epoch line on stderr")


def settings_from_json(text: str) -> SearchSettings:
    """:class:`SearchSettings` from the arm's keys (``channels`` and ``factor`` as [min, max])."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise NucflowError(f"--settings-json: invalid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise NucflowError("--settings-json: expected a JSON object")
    data = dict(data)
    for key in ("channels", "factor"):
        value = data.pop(key, None)
        if value is not None:
            if not isinstance(value, list) or len(value) != 2:
                raise NucflowError(f"--settings-json: {key}: expected [min, max], got {value!r}")
            data[f"{key}_min"], data[f"{key}_max"] = value
    try:
        return SearchSettings(**data)
    except TypeError as exc:
        raise NucflowError(f"--settings-json: {exc}") from None


def run(args: argparse.Namespace) -> int:
    config = RunConfig.from_json(args.run)
    settings = settings_from_json(args.settings_json)
    set_threads(args.threads)
    quiet_lightning(sys.stderr.isatty())
    search = FremSearch(config, settings, args.out_dir, echo=not args.quiet)
    table = search.run()
    best = read_json(search.out / "best.json")
    print(f"frem search {config.run_id}: {len(table)} trials; chosen channels {best['channels']} of "
          f"{best['feature_channels']}, factor {best['factor']:.4g} (trial {best['trial']}, {best['objective']} "
          f"{best['value']:.5g}) -> {args.out_dir}")
    return 0
