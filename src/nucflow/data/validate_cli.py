"""``nucflow validate MANIFEST``: exit 0 with a one-line summary (after any warnings, one line each, on
stderr), or one line per problem and exit 1."""

from __future__ import annotations

import sys

from nucflow.data.manifest import load_manifest
from nucflow.errors import ManifestError


def add_arguments(parser) -> None:
    parser.add_argument("manifest", help="path to manifest.csv (paths inside are relative to it)")
    depth = parser.add_argument_group("how deep to check")
    depth.add_argument("--quick", action="store_true",
                       help="read image headers only (shapes, dtypes); skip reading pixels for negative labels and NaNs")
    depth.add_argument("--workers", type=int, default=4, help="files checked in parallel (default 4)")


def run(args) -> int:
    try:
        manifest = load_manifest(args.manifest, deep=not args.quick, workers=args.workers)
    except ManifestError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 1
    for line in manifest.warnings:
        print(line, file=sys.stderr)
    print(manifest.summary())
    return 0
