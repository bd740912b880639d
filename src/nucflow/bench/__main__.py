"""``python -m nucflow.bench [NAME ...]``: run all benchmarks, or those whose name contains NAME."""

import importlib
import sys
import time

from nucflow.bench import BENCHMARKS


def main(argv: list[str]) -> int:
    chosen = [b for b in BENCHMARKS if not argv or any(a in b for a in argv)]
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
            module.main()
        except Exception as exc:  # one broken benchmark must not hide the others
            failed += 1
            print(f"!! {name} failed: {type(exc).__name__}: {exc}")
        print(f"   ({time.perf_counter() - start:.1f} s)", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
