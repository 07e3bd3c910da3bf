"""The plan picker against a bare Litestar route answering the same bytes, in one server.

The portal runs as its own process (with one extra route, ``/bench/bare``, that returns the
plan picker's bytes without doing anything); load comes from this process over loopback.
The figure is the plan picker's requests/second as a ratio of the bare route's: what the
catalog, identity and templating cost on top of Litestar itself.

Run alone with ``python -m bench.plan_picker``.
"""

from __future__ import annotations

import sys
import tempfile
import uuid
from typing import Any

import httpx
from litestar import Request, Response, get, post

from bench.common import figure, free_port, process, requests_per_second, sandbox_process

OPERATOR_TOKEN = "bench-operator-token"


_STORED: dict[str, bytes] = {"body": b""}


@get("/bench/bare", include_in_schema=False, sync_to_thread=False)
def bare() -> Response[bytes]:
    """Litestar answering the plan picker's bytes, doing nothing else."""
    return Response(_STORED["body"], media_type="text/html; charset=utf-8")


@post("/bench/bare", include_in_schema=False, status_code=204)
async def keep(request: Request[Any, Any, Any]) -> None:
    _STORED["body"] = await request.body()


def serve(port: int) -> None:
    """The portal with the bare comparison route (run in the server process)."""
    import uvicorn

    from portal.app import create_app
    from portal.migrate import upgrade
    from portal.settings import load_settings

    settings = load_settings()
    upgrade(settings.database_url)
    app = create_app(settings)
    app.register(bare)
    app.register(keep)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def _catalog(sandbox: str, account: str) -> None:
    headers = {"Authorization": f"Bearer sk_test_{account}"}
    with httpx.Client(base_url=sandbox, headers=headers) as client:
        for tier, amount in (("free", 0), ("starter", 900), ("pro", 2900), ("team", 9900)):
            product = client.post(
                "/v1/products",
                data={
                    "name": tier.title(),
                    "metadata[service]": "notes",
                    "metadata[tier]": tier,
                    "marketing_features[0][name]": "Everything you need",
                },
            ).json()
            for interval, factor in (("month", 1), ("year", 10)):
                client.post(
                    "/v1/prices",
                    data={
                        "product": product["id"],
                        "currency": "usd",
                        "unit_amount": str(amount * factor),
                        "recurring[interval]": interval,
                    },
                ).raise_for_status()


def run() -> list[dict[str, Any]]:
    with sandbox_process() as sandbox, tempfile.TemporaryDirectory() as data:
        port = free_port()
        portal = f"http://127.0.0.1:{port}"
        env = {
            "BILLPORT_DATABASE_URL": f"sqlite+aiosqlite:///{data}/bench.db",
            "BILLPORT_DATA_DIR": data,
            "BILLPORT_OPERATOR_TOKEN": OPERATOR_TOKEN,
            "BILLPORT_LOG_LEVEL": "WARNING",
        }
        command = [sys.executable, "-m", "bench.plan_picker", "serve", str(port)]
        with process(command, f"{portal}/healthz", env):
            account = "bench" + uuid.uuid4().hex[:8]
            _catalog(sandbox, account)
            tenant = httpx.post(
                f"{portal}/api/v1/tenants",
                headers={"Authorization": f"Bearer {OPERATOR_TOKEN}"},
                json={
                    "name": "Bench",
                    "stripe_secret_key": f"sk_test_{account}",
                    "stripe_api_base": sandbox,
                },
                timeout=30,
            ).json()
            page = f"{portal}/w/plan-picker?key={tenant['publishable_key']}"
            body = httpx.get(page, timeout=30).content
            httpx.post(f"{portal}/bench/bare", content=body).raise_for_status()
            bare_rate, _ = requests_per_second(f"{portal}/bench/bare")
            picker_rate, _ = requests_per_second(page)
    return [
        figure("bare_route_rps", bare_rate, "requests/s"),
        figure("plan_picker_rps", picker_rate, "requests/s"),
        figure("plan_picker_vs_bare", picker_rate, "requests/s", baseline=bare_rate),
    ]


def main() -> None:
    if sys.argv[1:2] == ["serve"]:
        serve(int(sys.argv[2]))
        return
    for row in run():
        print(f"{row['name']:<24} {row['value']:>10} {row['unit']:<12} ratio {row['ratio']}")


if __name__ == "__main__":
    main()
