"""Benchmarks behind ``make bench``: speed and size numbers the issues ask for.

Each module in :data:`BENCHMARKS` has a ``main()`` that prints its numbers as plain lines
(``name: value unit``; ratios against a reference computed in the same process where one exists).
Benchmarks never run in the test suite.
"""

BENCHMARKS = [
    "nucflow.bench.simulate",
    "nucflow.bench.models",
    "nucflow.bench.training",
    "nucflow.bench.parity",
    "nucflow.bench.calibrate",
    "nucflow.bench.matching",
    "nucflow.bench.predict",
    "nucflow.bench.study",
    "nucflow.bench.cluster",
]
