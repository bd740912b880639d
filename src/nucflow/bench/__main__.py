"""``python -m nucflow.bench [NAME ...] [--option ...]``: run all benchmarks, or those whose name
contains NAME. Options (from the first argument starting with ``-``) go to every chosen benchmark
whose ``main`` takes arguments, e.g. ``python -m nucflow.bench predict --device cuda``."""

import importlib
import inspect
import sys
import time

from nucflow.bench import BENCHMARKS


def main(argv: list[str]) -> int:
    split = next((i for i, a in enumerate(argv) if a.startswith("-")), len(argv))
    names, options = argv[:split], argv[split:]
    chosen = [b for b in BENCHMARKS if not names or any(a in b for a in names)]
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


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
