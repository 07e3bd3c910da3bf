"""Acme Notes: the sample SaaS site of the demo, built the way a tenant would build it.

Its server mints user tokens with the tenant's token secret, receives Billport's callbacks
and verifies their Standard Webhooks signatures with the callback secret, and shows both the
browser events (``handleResponse``) and the callbacks side by side. A "time machine" moves
the sandbox's clock so trials end and renewals happen while you watch.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from jinja2 import Environment, PackageLoader, select_autoescape
from joserfc import jwt
from joserfc.jwk import OctKey
from litestar import Litestar, MediaType, Request, Response, get, post
from litestar.datastructures import State
from litestar.response import Redirect
from litestar.static_files import create_static_files_router

from .seed import ACCOUNT, USERS

STATIC = Path(__file__).parent / "static"
SESSION_COOKIE = "acme_user"
NAME_COOKIE = "acme_name"
# A callback older than this, or from the future, is refused (replays).
TOLERANCE = 300
MAX_KEPT = 200

_ENV = Environment(
    loader=PackageLoader("portal.demo", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
)


@dataclass
class SiteConfig:
    portal_url: str
    sandbox_url: str
    publishable_key: str
    token_secret: str
    callback_secret: str
    pages: dict[str, str]
    callbacks: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=MAX_KEPT))


def mint_token(config: SiteConfig, customer: str) -> str:
    """A user token, as a tenant's server mints it (CONTRACT "User identity")."""
    now = int(time.time())
    identity = {"customer_id": customer} if customer.startswith("cus_") else {"email": customer}
    claims = {"aud": config.publishable_key, "iat": now, "exp": now + 3600, **identity}
    return jwt.encode({"alg": "HS256"}, claims, OctKey.import_key(config.token_secret))


def verify_callback(secret: str, headers: dict[str, str], body: bytes, now: float) -> bool:
    """Standard Webhooks verification: any ``v1`` signature made with our secret counts."""
    message_id = headers.get("webhook-id", "")
    timestamp = headers.get("webhook-timestamp", "")
    if not message_id or not timestamp.isdigit() or abs(now - int(timestamp)) > TOLERANCE:
        return False
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{message_id}.{timestamp}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    given = headers.get("webhook-signature", "").split(" ")
    return any(
        hmac.compare_digest(entry.partition(",")[2], expected)
        for entry in given
        if entry.startswith("v1,")
    )


def _page(
    template: str, config: SiteConfig, request: Request[Any, Any, Any], **context: Any
) -> Response[str]:
    # Who is signed in, as Acme Notes shows it: the email when it knows it.
    user = request.cookies.get(NAME_COOKIE) or request.cookies.get(SESSION_COOKIE)
    html = _ENV.get_template(template).render(
        portal_url=config.portal_url,
        key=config.publishable_key,
        pages=config.pages,
        user=user,
        users=USERS,
        **context,
    )
    return Response(html, media_type=MediaType.HTML)


@get("/")
async def home(request: Request[Any, Any, Any], state: State) -> Response[str]:
    return _page("home.html", state.site, request)


@get("/pricing")
async def pricing(request: Request[Any, Any, Any], state: State) -> Response[str]:
    # A signed-in user sees their current plan, and changes it right there.
    user = request.cookies.get(SESSION_COOKIE)
    token = mint_token(state.site, user) if user else None
    return _page("pricing.html", state.site, request, token=token)


@get("/signup")
async def signup(request: Request[Any, Any, Any], state: State) -> Response[str]:
    # The plan a visitor chose on the pricing page (its "Choose" button leads here).
    price = request.query_params.get("price", "")
    chosen = price if price.startswith("price_") and len(price) < 100 else None
    return _page("signup.html", state.site, request, price=chosen)


@get("/account")
async def account(request: Request[Any, Any, Any], state: State) -> Response[Any]:
    user = request.cookies.get(SESSION_COOKIE)
    if not user:
        return Redirect("/#signin")
    return _page("account.html", state.site, request, token=mint_token(state.site, user))


@post("/session")
async def sign_in(request: Request[Any, Any, Any], state: State) -> Response[Any]:
    """Sign in as a demo user (a form) or as the customer a signup just created (JSON).

    A demo convenience: a real app signs its users in with its own accounts, then mints
    their Billport token from what it knows about them, never from what the browser says.
    """
    if request.headers.get("content-type", "").startswith("application/json"):
        data = await request.json()
    else:
        data = dict(await request.form())
    user = str(data.get("customer_id") or data.get("email") or "").strip()
    known = {email for email, _, _ in USERS}
    if user not in known and not (user.startswith("cus_") and len(user) < 64):
        return Response({"error": "unknown user"}, status_code=400)
    response: Response[Any] = Redirect("/account", status_code=303)
    if data.get("customer_id"):
        response = Response({"signed_in": user})
    response.set_cookie(SESSION_COOKIE, user, path="/", httponly=True, samesite="lax")
    email = str(data.get("email") or "")
    if email and len(email) < 200:
        response.set_cookie(NAME_COOKIE, email, path="/", httponly=True, samesite="lax")
    else:
        response.delete_cookie(NAME_COOKIE, path="/")
    return response


@post("/signout")
async def sign_out() -> Response[Any]:
    response: Response[Any] = Redirect("/", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.delete_cookie(NAME_COOKIE, path="/")
    return response


@post("/callbacks")
async def receive_callback(request: Request[Any, Any, Any], state: State) -> Response[Any]:
    """Billport's callbacks land here, as on a tenant's server."""
    body = await request.body()
    headers = {k.lower(): v for k, v in request.headers.items()}
    if not verify_callback(state.site.callback_secret, headers, body, time.time()):
        return Response({"error": "bad signature"}, status_code=400)
    payload = json.loads(body)
    seen = {entry["id"] for entry in state.site.callbacks}
    # Delivery is at least once: a callback seen before is acknowledged, not shown twice.
    if payload.get("id") not in seen:
        state.site.callbacks.appendleft(
            {
                "id": payload.get("id"),
                "event": payload.get("event"),
                "customer": payload.get("customer"),
                "created": payload.get("created"),
                "summary": _summary(payload.get("response") or {}),
                "verified": True,
            }
        )
    return Response(None, status_code=204)


def _summary(obj: dict[str, Any]) -> str:
    kind = obj.get("object")
    if kind == "subscription":
        tier = (obj.get("metadata") or {}).get("tier") or ""
        return f"subscription {obj.get('status')} {tier}".strip()
    if kind == "invoice":
        amount = (obj.get("amount_paid") or obj.get("amount_due") or 0) / 100
        return f"invoice {obj.get('status')} ${amount:.2f}"
    return str(kind or "")


@get("/callbacks.json")
async def list_callbacks(state: State) -> dict[str, Any]:
    return {"callbacks": list(state.site.callbacks)}


@post("/time-machine")
async def time_machine(request: Request[Any, Any, Any], state: State) -> Response[Any]:
    """Move the sandbox's clock: trials end, renewals charge, Stripe sends the events."""
    data = await request.json()
    days = data.get("days")
    if not isinstance(days, int) or not 0 < days <= 400:
        return Response({"error": "days must be between 1 and 400"}, status_code=400)
    async with httpx.AsyncClient(timeout=60) as client:
        answer = await client.post(
            f"{state.site.sandbox_url}/_sandbox/clock/advance",
            json={"account": ACCOUNT, "seconds": days * 86_400},
        )
    return Response(answer.json(), status_code=answer.status_code)


def create_site(config: SiteConfig) -> Litestar:
    return Litestar(
        route_handlers=[
            home,
            pricing,
            signup,
            account,
            sign_in,
            sign_out,
            receive_callback,
            list_callbacks,
            time_machine,
            create_static_files_router(path="/static", directories=[STATIC]),
        ],
        state=State({"site": config}),
        logging_config=None,
        debug=False,
    )
