"""The load generator used when wrk is not installed: asyncio over keep-alive sockets.

Runs as its own process, like wrk, reads the same calls file (see ``bench/calls.lua``) and
prints the same one-line JSON summary. It speaks just enough HTTP/1.1 for the portal:
Content-Length and chunked bodies, keep-alive, reconnecting when the server closes.

    python -m bench.loadgen URL CALLS_FILE --connections 16 --seconds 3
    python -m bench.loadgen URL CALLS_FILE --connections 8 --once

``--once`` sends every call exactly once (to warm caches) instead of running for a time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

Request = bytes


def read_calls(path: Path, host: str) -> list[Request]:
    """The calls file as ready-to-send HTTP/1.1 requests."""
    data = path.read_bytes()
    requests: list[Request] = []
    at = 0
    while at < len(data):
        end = data.index(b"\n", at)
        method, target, count, size = data[at:end].decode().split(" ")
        at = end + 1
        lines = [f"{method} {target} HTTP/1.1", f"Host: {host}"]
        for _ in range(int(count)):
            end = data.index(b"\n", at)
            lines.append(data[at:end].decode())
            at = end + 1
        body = data[at : at + int(size)]
        at += int(size)
        if body or method in ("POST", "PUT", "PATCH"):
            lines.append(f"Content-Length: {len(body)}")
        requests.append(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
    return requests


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """Read one response; answer its status and whether the connection stays open."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    length = 0
    chunked = False
    keep_alive = True
    for line in lines[1:]:
        name, _, value = line.partition(":")
        name = name.strip().lower()
        value = value.strip().lower()
        if name == "content-length":
            length = int(value)
        elif name == "transfer-encoding" and "chunked" in value:
            chunked = True
        elif name == "connection" and value == "close":
            keep_alive = False
    if chunked:
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    elif length:
        await reader.readexactly(length)
    return status, keep_alive


class Load:
    def __init__(self, requests: list[Request], once: bool) -> None:
        self.requests = requests
        self.once = once
        self.next = 0
        self.wrapped = False
        self.latencies: list[float] = []
        self.errors = {"connect": 0, "read": 0, "write": 0, "status": 0, "timeout": 0}

    def take(self) -> Request | None:
        if self.next >= len(self.requests):
            if self.once:
                return None
            self.next = 0
            self.wrapped = True
        request = self.requests[self.next]
        self.next += 1
        return request

    async def connection(self, host: str, port: int, stop: float) -> None:
        reader: asyncio.StreamReader | None = None
        writer: asyncio.StreamWriter | None = None
        try:
            while time.perf_counter() < stop:
                if writer is None or reader is None:
                    try:
                        reader, writer = await asyncio.open_connection(host, port)
                    except OSError:
                        self.errors["connect"] += 1
                        await asyncio.sleep(0.01)
                        continue
                request = self.take()
                if request is None:
                    return
                began = time.perf_counter()
                try:
                    writer.write(request)
                    status, keep_alive = await _read_response(reader)
                except (OSError, asyncio.IncompleteReadError, ValueError):
                    self.errors["read"] += 1
                    writer.close()
                    reader = writer = None
                    continue
                finished = time.perf_counter()
                if finished <= stop:
                    self.latencies.append(finished - began)
                    if status >= 400:
                        self.errors["status"] += 1
                if not keep_alive:
                    writer.close()
                    reader = writer = None
        finally:
            if writer is not None:
                writer.close()


async def run(
    url: str, calls: Path, connections: int, seconds: float, once: bool
) -> dict[str, Any]:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    load = Load(read_calls(calls, parts.netloc), once)
    began = time.perf_counter()
    stop = began + (3600.0 if once else seconds)
    await asyncio.gather(*(load.connection(host, port, stop) for _ in range(connections)))
    elapsed = min(time.perf_counter(), stop) - began
    ordered = sorted(load.latencies)

    def percentile(share: float) -> float:
        if not ordered:
            return 0.0
        return ordered[min(len(ordered) - 1, int(share * len(ordered)))] * 1000

    return {
        "requests": len(ordered),
        "seconds": elapsed,
        "p50_ms": percentile(0.50),
        "p99_ms": percentile(0.99),
        "errors": load.errors,
        "wrapped": load.wrapped,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("calls", type=Path)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--once", action="store_true")
    args = parser.parse_args()
    summary = asyncio.run(run(args.url, args.calls, args.connections, args.seconds, args.once))
    sys.stdout.write(json.dumps(summary) + "\n")


if __name__ == "__main__":
    main()
