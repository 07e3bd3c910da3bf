"""The plan picker, its page and its JSON, against bare Litestar routes answering the same bytes.

The portal runs as its own process with the bare routes of ``bench.server``; load comes from
wrk (or ``bench.loadgen``) over loopback. Figures:

- ``plan_picker_vs_bare``: requests/second of ``GET /w/plan-picker`` as a ratio of a bare
  route answering the same page: what the catalog, identity and templating cost on top of
  Litestar itself.
- ``plan_picker_json_vs_bare``: the same for ``GET /api/v1/catalog``, the products and prices
  the plan picker shows, as JSON.
- ``plan_picker_p50_ms_<n>_conn`` and ``plan_picker_p99_ms_<n>_conn`` for 1, 16 and 64
  connections: median latency against the bare route's at the same concurrency, and the 99th
  percentile against the plan picker's own median (the ratio is p99/p50).

Requests are made as embed.js makes them: with the framing page's origin and a random frame
id each, so that no two query strings are alike and the framework's cache of parsed query
strings (1,024 entries) flatters no figure.

Run alone with ``python -m bench.plan_picker``.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import quote

import httpx

from bench.common import CONNECTIONS, Call, Measured, figure, get, measure_together
from bench.server import ORIGIN, portal_with_tenant

LATENCY_CONNECTIONS = (1, CONNECTIONS, 64)


def visits(keys: Sequence[str]) -> Callable[[int], list[Call]]:
    """A maker of plan picker requests cycling over the tenants of ``keys``, as embed.js
    sends them: the framing page's origin and a frame id of their own."""

    def make(count: int) -> list[Call]:
        return [
            get(
                f"/w/plan-picker?key={keys[number % len(keys)]}&origin={quote(ORIGIN, safe='')}"
                f"&frame=bpf_{secrets.token_hex(9)}"
            )
            for number in range(count)
        ]

    return make


def latency_figures(connections: int, picker: Measured, bare: Measured) -> list[dict[str, Any]]:
    return [
        figure(
            f"plan_picker_p50_ms_{connections}_conn",
            picker.p50_ms,
            "ms",
            baseline=bare.p50_ms,
            digits=2,
        ),
        figure(
            f"plan_picker_p99_ms_{connections}_conn",
            picker.p99_ms,
            "ms",
            baseline=picker.p50_ms,
            digits=2,
        ),
    ]


def run() -> list[dict[str, Any]]:
    with portal_with_tenant() as (portal, _sandbox, tenant, _prices):
        page = visits([tenant["publishable_key"]])
        answer = httpx.get(f"{portal.url}{page(1)[0].path}", timeout=30)
        answer.raise_for_status()
        bare_page = portal.bare("plan-picker", answer)
        auth = {"Authorization": f"Bearer {tenant['secret_key']}"}
        catalog = httpx.get(f"{portal.url}/api/v1/catalog", headers=auth, timeout=30)
        catalog.raise_for_status()
        bare_catalog = portal.bare("catalog", catalog)

        bare, picker, bare_json, picker_json = measure_together(
            portal.url,
            [[get(bare_page)], page, [get(bare_catalog)], [get("/api/v1/catalog", auth)]],
        )
        latency: dict[int, tuple[Measured, Measured]] = {CONNECTIONS: (picker, bare)}
        for connections in LATENCY_CONNECTIONS:
            if connections not in latency:
                at, bare_at = measure_together(
                    portal.url, [page, [get(bare_page)]], connections=connections
                )
                latency[connections] = (at, bare_at)
    figures = [
        figure("bare_route_rps", bare.rate, "requests/s"),
        figure("plan_picker_rps", picker.rate, "requests/s"),
        figure("plan_picker_vs_bare", picker.rate, "requests/s", baseline=bare.rate),
        figure("plan_picker_json_vs_bare", picker_json.rate, "requests/s", baseline=bare_json.rate),
    ]
    for connections in LATENCY_CONNECTIONS:
        figures += latency_figures(connections, *latency[connections])
    return figures


def main() -> None:
    for row in run():
        print(f"{row['name']:<28} {row['value']:>10} {row['unit']:<12} ratio {row['ratio']}")


if __name__ == "__main__":
    main()
