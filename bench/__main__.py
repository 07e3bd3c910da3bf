"""``make bench``: every benchmark, a table, and ``bench/results.json``.

``python -m bench`` runs them all; ``python -m bench plan_picker tenant_scale`` runs those named
(the labels below) and still writes the table and ``results.json`` of what ran.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import (
    callbacks,
    checkout,
    embed,
    intake,
    plan_picker,
    sandbox,
    sessions,
    tenant_scale,
)
from bench.common import load_generator_label

RESULTS = Path(__file__).parent / "results.json"
# (label, run): each run starts the processes it needs and answers its figures.
BENCHMARKS: list[tuple[str, Callable[[], list[dict[str, Any]]]]] = [
    ("callbacks", callbacks.run),
    ("sandbox", sandbox.run),
    ("plan_picker", plan_picker.run),
    ("embed_js", embed.run),
    ("sessions", sessions.run),
    ("checkout", checkout.run),
    ("stripe_intake", intake.run),
    ("tenant_scale", tenant_scale.run),
    ("load", lambda: __import__("bench.load", fromlist=["run"]).run()),
]


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cpus, Python {platform.python_version()}"


def table(figures: list[dict[str, Any]]) -> str:
    width = max(len(f["name"]) for f in figures)
    lines = [f"{'figure':<{width}}  {'value':>10}  {'unit':<14} {'baseline':>10}  {'ratio':>7}"]
    for f in figures:
        baseline = "" if f["baseline"] is None else f["baseline"]
        ratio = "" if f["ratio"] is None else f["ratio"]
        lines.append(
            f"{f['name']:<{width}}  {f['value']:>10}  {f['unit']:<14} {baseline:>10}  {ratio:>7}"
        )
    return "\n".join(lines)


def main() -> None:
    wanted = set(sys.argv[1:])
    unknown = wanted - {label for label, _ in BENCHMARKS}
    if unknown:
        labels = ", ".join(label for label, _ in BENCHMARKS)
        raise SystemExit(f"unknown benchmark {', '.join(sorted(unknown))}; known: {labels}")
    generator = load_generator_label()
    print(f"load generator: {generator}", flush=True)
    began = time.monotonic()
    figures: list[dict[str, Any]] = []
    for label, run in BENCHMARKS:
        if wanted and label not in wanted:
            continue
        started = time.monotonic()
        figures.extend(run())
        print(f"{label}: {time.monotonic() - started:.0f} s", flush=True)
    seconds = round(time.monotonic() - began)
    print(f"\n{table(figures)}\n\n{seconds} s in all, load from {generator}")
    results = {
        "machine": machine(),
        "load_generator": generator,
        "callbacks_database": callbacks.database_kind(),
        "seconds": seconds,
        "figures": figures,
    }
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"written to {RESULTS}")


if __name__ == "__main__":
    main()
