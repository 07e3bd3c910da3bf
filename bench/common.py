"""What every benchmark needs: processes on loopback ports, a load generator, figures."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

BILLPORT = str(Path(sys.executable).parent / "billport")

# Makes the body and headers of one POST; called once per request.
PostBody = Callable[[], tuple[bytes, dict[str, str]]]


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


async def _load(
    url: str, concurrency: int, seconds: float, post: PostBody | None = None
) -> tuple[int, list[float]]:
    """GET ``url`` (or POST what ``post`` makes) from ``concurrency`` clients for ``seconds``."""
    latencies: list[float] = []
    stop = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:

        async def worker() -> None:
            while time.perf_counter() < stop:
                if post is None:
                    began = time.perf_counter()
                    answer = await client.get(url)
                else:
                    content, headers = post()
                    began = time.perf_counter()
                    answer = await client.post(url, content=content, headers=headers)
                if answer.status_code != 200:
                    method = "GET" if post is None else "POST"
                    raise RuntimeError(f"{method} {url} answered {answer.status_code}")
                latencies.append(time.perf_counter() - began)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return len(latencies), latencies


def requests_per_second(
    url: str,
    *,
    concurrency: int = 16,
    seconds: float = 4.0,
    runs: int = 3,
    post: PostBody | None = None,
) -> tuple[float, list[float]]:
    """Median requests/second over ``runs`` timed runs after one warm-up run.

    GET requests, or with ``post`` POST requests whose body and headers it makes.
    """
    asyncio.run(_load(url, concurrency, 1.0, post))
    rates = []
    latencies: list[float] = []
    for _ in range(runs):
        count, measured = asyncio.run(_load(url, concurrency, seconds, post))
        rates.append(count / seconds)
        latencies.extend(measured)
    return statistics.median(rates), latencies


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
