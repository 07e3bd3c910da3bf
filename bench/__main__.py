"""``make bench``: every benchmark, a table, and ``bench/results.json``."""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path
from typing import Any

from bench import callbacks, intake, plan_picker, sandbox

RESULTS = Path(__file__).parent / "results.json"
BENCHMARKS = (
    ("callbacks", callbacks.run),
    ("sandbox", sandbox.run),
    ("plan picker", plan_picker.run),
    ("stripe intake", intake.run),
)


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cpus, Python {platform.python_version()}"


def main() -> None:
    figures: list[dict[str, Any]] = []
    for label, run in BENCHMARKS:
        started = time.monotonic()
        figures.extend(run())
        print(f"{label}: {time.monotonic() - started:.0f} s", flush=True)
    width = max(len(f["name"]) for f in figures)
    print(f"\n{'figure':<{width}}  {'value':>10}  {'unit':<14} {'baseline':>10}  {'ratio':>7}")
    for f in figures:
        baseline = "" if f["baseline"] is None else f["baseline"]
        ratio = "" if f["ratio"] is None else f["ratio"]
        print(f"{f['name']:<{width}}  {f['value']:>10}  {f['unit']:<14} {baseline:>10}  {ratio:>7}")
    RESULTS.write_text(json.dumps({"machine": machine(), "figures": figures}, indent=2) + "\n")
    print(f"\nwritten to {RESULTS}")


if __name__ == "__main__":
    main()
