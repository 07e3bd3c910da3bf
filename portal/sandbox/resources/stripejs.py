"""The Stripe.js stand-in at ``/v3/``: card Elements, confirmations and a 3D Secure dialog."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from ..routing import Request, Response, route

_SCRIPT = Path(__file__).resolve().parent.parent / "static" / "stripe-v3.js"


@cache
def _script() -> bytes:
    return _SCRIPT.read_bytes()


@route("GET", "/v3/", auth="none")
@route("GET", "/v3", auth="none")
def serve_stripe_js(req: Request) -> Response:
    del req
    return Response(
        body=_script(),
        content_type="application/javascript; charset=utf-8",
        headers={"Cache-Control": "public, max-age=300"},
    )
