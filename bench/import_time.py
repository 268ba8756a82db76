"""How long ``import agentinbox`` takes in a fresh interpreter, beside what it cannot avoid importing.

Each line is the median of N fresh ``python -c`` runs, with the bare interpreter's start-up subtracted.

    .venv/bin/python bench/import_time.py [--runs 15]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

CASES = [
    ("import agentinbox", "import agentinbox"),
    (
        "its dependencies alone: sqlalchemy, pydantic, pydantic_settings",
        "import sqlalchemy, pydantic, pydantic_settings",
    ),
    ("talon (imported lazily, on first extraction)", "import talon.quotations"),
]


def run(code: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    run("import agentinbox")  # warm the file cache and .pyc files
    base = statistics.median(run("pass") for _ in range(args.runs))
    print(f"bare interpreter start-up: {base * 1000:.0f} ms (subtracted below)\n")
    print(f"{'what':<66} {'ms':>6}")
    for name, code in CASES:
        median = statistics.median(run(code) for _ in range(args.runs))
        print(f"{name:<66} {(median - base) * 1000:>6.0f}")


if __name__ == "__main__":
    main()
