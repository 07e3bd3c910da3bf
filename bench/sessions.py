"""Session creation, ``POST /api/v1/sessions``, against a bare route answering the same bytes.

Each request asks for a session for a customer named by email (no Stripe call: the portal
authenticates the tenant, stores a hashed token and answers it). The bare route reads the
same request body and answers a real session's bytes with 201. The figure
``sessions_create_vs_bare`` is sessions/second as a ratio of the bare route's requests/second.

Run alone with ``python -m bench.sessions``.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from bench.common import figure, measure_together, post_json
from bench.server import portal_with_tenant


def run() -> list[dict[str, Any]]:
    with portal_with_tenant() as (portal, _sandbox, tenant, _prices):
        auth = {"Authorization": f"Bearer {tenant['secret_key']}"}
        body = json.dumps({"email": "ada@example.com", "ttl_seconds": 900}).encode()
        call = post_json("/api/v1/sessions", body, auth)
        answer = httpx.post(
            f"{portal.url}{call.path}", content=call.body, headers=call.headers, timeout=30
        )
        if answer.status_code != 201:
            raise RuntimeError(f"POST /api/v1/sessions answered {answer.status_code}")
        bare_path = portal.bare("sessions", answer)
        bare, created = measure_together(portal.url, [[post_json(bare_path, body, auth)], [call]])
    return [figure("sessions_create_vs_bare", created.rate, "sessions/s", baseline=bare.rate)]


def main() -> None:
    for row in run():
        print(f"{row['name']:<24} {row['value']:>10} {row['unit']:<12} ratio {row['ratio']}")


if __name__ == "__main__":
    main()
