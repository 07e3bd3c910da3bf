"""What every benchmark needs: processes on loopback ports, a load generator, figures.

Load always comes from a process of its own: wrk when it is installed (``make bench`` installs
Debian's package when it can), else ``bench.loadgen``, an asyncio client. Every measurement is
a warm-up run that is thrown away, then ``RUNS`` timed runs; figures are their medians.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

BILLPORT = str(Path(sys.executable).parent / "billport")
CALLS_SCRIPT = Path(__file__).parent / "calls.lua"

# Seconds of each run (whole seconds: wrk's unit) and how many runs a figure is the median
# of; the warm-up is not counted.
WARMUP_SECONDS = 1
RUN_SECONDS = 2
RUNS = 3
# Connections of every throughput figure.
CONNECTIONS = 16
# BILLPORT_BENCH_LOADGEN=python forces the asyncio client even when wrk is installed.
LOADGEN_ENV = "BILLPORT_BENCH_LOADGEN"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def process(
    command: Sequence[str], ready_url: str, env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``command`` until the block ends; wait until ``ready_url`` answers."""
    started = subprocess.Popen(
        list(command),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, **(env or {})},
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(ready_url, timeout=2)
                break
            except httpx.TransportError:
                if started.poll() is not None or time.monotonic() > deadline:
                    error = started.stderr.read().decode() if started.stderr else ""
                    raise RuntimeError(f"{command[0]} did not start: {error[-2000:]}") from None
                time.sleep(0.1)
        yield started
    finally:
        started.send_signal(signal.SIGTERM)
        try:
            started.wait(timeout=30)
        except subprocess.TimeoutExpired:
            started.kill()
            started.wait()


@contextmanager
def sandbox_process() -> Iterator[str]:
    """A ``billport sandbox`` server on a free loopback port; yields its URL."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [BILLPORT, "sandbox", "--port", str(port)]
    with process(command, f"{url}/_sandbox/clock?account=bench"):
        yield url


def rss_mb(pid: int) -> float:
    """Resident memory of a process, in MiB (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


# -- load ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    """One HTTP request as the load generator sends it (``path`` includes the query)."""

    method: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


def get(path: str, headers: dict[str, str] | None = None) -> Call:
    return Call("GET", path, headers or {})


def post_json(path: str, body: bytes, headers: dict[str, str] | None = None) -> Call:
    return Call("POST", path, {"Content-Type": "application/json", **(headers or {})}, body)


# Calls that may be sent again and again, or a maker of ``n`` calls that may each be sent once
# (a new user subscribing, a new Stripe event).
Calls = Sequence[Call] | Callable[[int], Sequence[Call]]


def write_calls(calls: Sequence[Call], path: Path) -> None:
    """The calls file ``bench/calls.lua`` and ``bench.loadgen`` read."""
    with path.open("wb") as out:
        for call in calls:
            if " " in call.path or "\n" in call.path:
                raise ValueError(f"path must be URL-encoded: {call.path!r}")
            out.write(f"{call.method} {call.path} {len(call.headers)} {len(call.body)}\n".encode())
            for name, value in call.headers.items():
                out.write(f"{name}: {value}\n".encode())
            out.write(call.body)


def load_generator() -> str:
    """``wrk`` or ``python``: what sends the load in this run."""
    if os.environ.get(LOADGEN_ENV) == "python" or shutil.which("wrk") is None:
        return "python"
    return "wrk"


def load_generator_label() -> str:
    """The load generator and its version, for ``results.json``."""
    if load_generator() == "python":
        return "python bench.loadgen (asyncio, one process)"
    found = subprocess.run(["wrk", "--version"], capture_output=True, text=True, check=False)
    words = (found.stdout + found.stderr).split()
    return f"wrk {words[1]}" if len(words) > 1 else "wrk"


@dataclass(frozen=True)
class Run:
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    wrapped: bool

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def load_run(
    base_url: str,
    calls: Sequence[Call],
    *,
    connections: int = CONNECTIONS,
    seconds: int = RUN_SECONDS,
    once: bool = False,
) -> Run:
    """One run of the load generator, as a process of its own, against ``base_url``.

    ``once`` sends every call exactly once (warming caches) and is always the asyncio client,
    as wrk only runs for a time.
    """
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "calls"
        write_calls(calls, path)
        url = base_url.rstrip("/") + "/"
        if once or load_generator() == "python":
            command = [sys.executable, "-m", "bench.loadgen", url, str(path)]
            command += ["--connections", str(connections)]
            command += ["--once"] if once else ["--seconds", str(seconds)]
        else:
            command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "30s"]
            command += ["-s", str(CALLS_SCRIPT), url, "--", str(path), "1"]
        finished = subprocess.run(command, capture_output=True, text=True, check=False)
    lines = [line for line in finished.stdout.splitlines() if line.startswith("{")]
    if finished.returncode != 0 or not lines:
        raise RuntimeError(f"{command[0]} failed: {finished.stdout[-1000:]}{finished.stderr}")
    summary = json.loads(lines[-1])
    errors = {name: count for name, count in summary["errors"].items() if count}
    if errors:
        first = calls[0]
        raise RuntimeError(f"{first.method} {urlsplit(base_url).netloc}{first.path}: {errors}")
    return Run(
        summary["requests"],
        summary["seconds"],
        summary["p50_ms"],
        summary["p99_ms"],
        summary["wrapped"],
    )


def fresh_run(
    base_url: str,
    make: Callable[[int], Sequence[Call]],
    count: int,
    *,
    connections: int = CONNECTIONS,
    seconds: int = RUN_SECONDS,
) -> Run:
    """A run of ``count`` calls that may each be sent once; made again with three times as
    many (twice at most) when it uses them all up."""
    for _ in range(3):
        run = load_run(base_url, make(count), connections=connections, seconds=seconds)
        if not run.wrapped:
            return run
        count *= 3
    raise RuntimeError(f"{base_url}: a run used up its {count // 3} calls")


@dataclass(frozen=True)
class Measured:
    """Medians of the timed runs of one measurement."""

    rate: float
    p50_ms: float
    p99_ms: float
    runs: tuple[Run, ...]


def measure_cases(
    cases: Sequence[tuple[str, Calls]],
    *,
    connections: int = CONNECTIONS,
    seconds: int = RUN_SECONDS,
    runs: int = RUNS,
    warmup: int = WARMUP_SECONDS,
    first_batch: int = 500,
) -> list[Measured]:
    """Requests/second and latency of each case (a base URL and its calls).

    Each case gets a warm-up run, then ``runs`` rounds run every case once, one after
    another, so that a noisy moment of the machine falls on all of them alike; each figure is
    the median of a case's timed runs. A maker of calls gives every run calls of its own,
    enough for twice the fastest rate its case reached so far; a timed run that uses them all
    up is made again with three times as many.
    """

    def batch(calls: Calls, count: int) -> Sequence[Call]:
        return calls(count) if callable(calls) else calls

    warm = [
        load_run(url, batch(calls, first_batch), connections=connections, seconds=warmup)
        for url, calls in cases
    ]
    timed: list[list[Run]] = [[] for _ in cases]
    for _ in range(runs):
        for index, (url, calls) in enumerate(cases):
            if callable(calls):
                fastest = max(r.rate for r in [warm[index], *timed[index]])
                count = max(first_batch, math.ceil(2 * fastest * seconds))
                run = fresh_run(url, calls, count, connections=connections, seconds=seconds)
            else:
                run = load_run(url, calls, connections=connections, seconds=seconds)
            timed[index].append(run)
    return [
        Measured(
            statistics.median(r.rate for r in case),
            statistics.median(r.p50_ms for r in case),
            statistics.median(r.p99_ms for r in case),
            tuple(case),
        )
        for case in timed
    ]


def measure_together(
    base_url: str, cases: Sequence[Calls], *, connections: int = CONNECTIONS
) -> list[Measured]:
    """``measure_cases`` for several cases of one server."""
    return measure_cases([(base_url, calls) for calls in cases], connections=connections)


def measure(base_url: str, calls: Calls, *, connections: int = CONNECTIONS) -> Measured:
    """``measure_cases`` for one case."""
    return measure_cases([(base_url, calls)], connections=connections)[0]


def figure(
    name: str, value: float, unit: str, baseline: float | None = None, digits: int = 1
) -> dict[str, Any]:
    return {
        "name": name,
        "value": round(value, digits),
        "unit": unit,
        "baseline": round(baseline, digits) if baseline is not None else None,
        "ratio": round(value / baseline, 3) if baseline else None,
    }
