"""``nucflow bench [NAME ...] [--option ...]``: run all benchmarks, or those whose name contains
NAME. Options (from the first argument starting with ``-``) go to every chosen benchmark whose
``main`` takes arguments, e.g. ``nucflow bench predict --device cuda``."""

from __future__ import annotations

import argparse
import importlib
import inspect
import time

from nucflow.bench import BENCHMARKS
from nucflow.errors import NucflowError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    names = ", ".join(name.rsplit(".", 1)[1] for name in BENCHMARKS)
    parser.add_argument("args", nargs=argparse.REMAINDER, metavar="[NAME ...] [--option ...]",
                        help=f"benchmarks to run (all when none; a NAME matches every benchmark whose name "
                             f"contains it: {names}), then options for them")


def run(args: argparse.Namespace) -> int:
    return main(list(args.args))


def main(argv: list[str]) -> int:
    split = next((i for i, a in enumerate(argv) if a.startswith("-")), len(argv))
    names, options = argv[:split], argv[split:]
    chosen = [b for b in BENCHMARKS if not names or any(a in b.rsplit(".", 1)[1] for a in names)]
    if not chosen:
        known = ", ".join(b.rsplit(".", 1)[1] for b in BENCHMARKS)
        raise NucflowError(f"no benchmark is named like {' or '.join(names)}; the benchmarks are {known}")
    failed = 0
    for name in chosen:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                print(f"== {name}: not built yet, skipped")
                continue
            raise
        print(f"== {name}", flush=True)
        start = time.perf_counter()
        try:
            if inspect.signature(module.main).parameters:
                module.main(options)
            else:
                if options:
                    print(f"   (takes no options; {' '.join(options)} ignored)")
                module.main()
        except Exception as exc:  # one broken benchmark must not hide the others
            failed += 1
            print(f"!! {name} failed: {type(exc).__name__}: {exc}")
        print(f"   ({time.perf_counter() - start:.1f} s)", flush=True)
    return 1 if failed else 0
