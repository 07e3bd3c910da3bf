"""embed.js, the one script tenants paste: its size gzipped, and how fast it is served.

Figures:

- ``embed_js_gzip_bytes``: the script as the portal serves it, gzipped (level 9), against its
  plain size (the ratio is the compressed share).
- ``embed_js_vs_bare``: requests/second of ``GET /embed.js`` as a ratio of a bare Litestar
  route answering the same bytes, under the same load.

Run alone with ``python -m bench.embed``.
"""

from __future__ import annotations

import gzip
from typing import Any

import httpx

from bench.common import figure, get, measure_together
from bench.server import portal_process


def run() -> list[dict[str, Any]]:
    with portal_process() as portal:
        answer = httpx.get(f"{portal.url}/embed.js", timeout=30)
        answer.raise_for_status()
        script = answer.content
        bare_path = portal.bare("embed.js", answer)
        bare, served = measure_together(portal.url, [[get(bare_path)], [get("/embed.js")]])
    return [
        figure(
            "embed_js_gzip_bytes",
            len(gzip.compress(script, compresslevel=9, mtime=0)),
            "bytes",
            baseline=len(script),
            digits=0,
        ),
        figure("embed_js_vs_bare", served.rate, "requests/s", baseline=bare.rate),
    ]


def main() -> None:
    for row in run():
        print(f"{row['name']:<24} {row['value']:>10} {row['unit']:<12} ratio {row['ratio']}")


if __name__ == "__main__":
    main()
