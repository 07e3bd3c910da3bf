"""The sandbox as an ASGI application."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import random
import re
import time
from pathlib import Path
from typing import Any

from . import resources  # noqa: F401  (registers the routes)
from .delivery import WebhookSender
from .errors import (
    APIError,
    AuthenticationError,
    CardError,
    IdempotencyError,
    InvalidRequest,
    RateLimitError,
    StripeError,
)
from .forms import FormError, decode
from .listing import expand
from .routing import Request, Response, match, unrecognized
from .state import API_VERSION, IdempotentResult, SandboxState, random_token

log = logging.getLogger("billport.sandbox")

MAX_BODY = 1_000_000
_KEY = re.compile(r"^(sk|pk|rk)_test_([A-Za-z0-9_]{1,64})$")
SAVE_INTERVAL = 1.0
# Browsers call the API and load Stripe.js cross-origin, as they do with Stripe itself.
CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, POST, DELETE, OPTIONS",
    "Access-Control-Allow-Headers": "Authorization, Content-Type, Idempotency-Key, Stripe-Version",
    "Access-Control-Expose-Headers": "Request-Id, Stripe-Version, Idempotency-Key",
    "Access-Control-Max-Age": "600",
}


class SandboxApp:
    def __init__(self, state: SandboxState) -> None:
        self.state = state
        self.sender = WebhookSender(state)
        self._saver: asyncio.Task[None] | None = None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if len(body) > MAX_BODY:
                await _send(
                    send, _error_response(InvalidRequest("Request body too large.", status=413))
                )
                return
            if not message.get("more_body"):
                break
        response = await self.handle(scope, body)
        await _send(send, response)

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await self.startup()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def startup(self) -> None:
        self.sender.start()
        if self.state.state_file is not None:
            self._saver = asyncio.create_task(self._save_loop(), name="sandbox-save")

    async def shutdown(self) -> None:
        if self._saver is not None:
            self._saver.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._saver
        await self.sender.stop()
        if self.state.dirty:
            self.state.save()

    async def _save_loop(self) -> None:
        while True:
            await asyncio.sleep(SAVE_INTERVAL)
            if self.state.dirty:
                try:
                    self.state.save()
                except OSError:
                    log.exception("could not save sandbox state")

    # -- one request ---------------------------------------------------------------------
    async def handle(self, scope: dict[str, Any], body: bytes) -> Response:
        method = scope["method"].upper()
        path = scope["path"]
        cross_origin = path.startswith(("/v1/", "/v3"))
        if cross_origin and method == "OPTIONS":
            return Response(status=204, headers=dict(CORS_HEADERS))
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        request_id = "req_" + random_token(14)
        idempotency_key = headers.get("idempotency-key")
        account_name: str | None = None
        try:
            found = match(method, path)
            if found is None or found == "method":
                raise unrecognized(method, path)
            assert not isinstance(found, str)
            route, path_params = found
            key_kind = None
            account = None
            if route.auth != "none":
                key_kind, account_name = _authenticate(headers)
                if key_kind == "publishable" and route.auth == "secret":
                    raise AuthenticationError(
                        "This API call cannot be made with a publishable API key. "
                        "Please use a secret API key.",
                        code="secret_key_required",
                    )
                account = self.state.account(account_name)
            params = _params(scope, body, headers, path)
            request = Request(
                method=method,
                path=path,
                params=params,
                path_params=path_params,
                state=self.state,
                account=account,
                key_kind=key_kind,
                headers=headers,
                idempotency_key=idempotency_key,
                base_url=_base_url(scope, headers),
                extra={"request_id": request_id},
            )
            fault_response = await self._fault(method, path) if path.startswith("/v1/") else None
            replay = None
            if fault_response is None and account is not None and method == "POST":
                if idempotency_key:
                    replay = _idempotent_replay(account, method, path, params, idempotency_key)
            if fault_response is not None:
                response = fault_response
            elif replay is not None:
                response = replay
            else:
                response = self._run(route.handler, request)
                if account is not None and method == "POST" and idempotency_key:
                    if response.status < 500:
                        account.idempotency[idempotency_key] = IdempotentResult(
                            method,
                            path,
                            _fingerprint(params),
                            response.status,
                            response.body,
                            time.time(),
                        )
                if method in {"POST", "DELETE"} and response.status < 400:
                    self.state.dirty = True
        except StripeError as error:
            response = _error_response(error)
        if cross_origin:
            response.headers.update(CORS_HEADERS)
        response.headers.setdefault("Request-Id", request_id)
        response.headers.setdefault("Stripe-Version", API_VERSION)
        if idempotency_key:
            response.headers.setdefault("Idempotency-Key", idempotency_key)
        if path.startswith("/v1/"):
            self.state.requests.append(
                {
                    "account": account_name,
                    "method": method,
                    "path": path,
                    "status": response.status,
                    "idempotency_key": idempotency_key,
                    "at": time.time(),
                }
            )
        return response

    def _run(self, handler: Any, request: Request) -> Response:
        try:
            result = handler(request)
        except StripeError:
            raise
        except Exception:
            log.exception("sandbox route failed: %s %s", request.method, request.path)
            raise APIError("An unexpected error occurred in the sandbox.") from None
        if isinstance(result, Response):
            return result
        if request.account is not None:
            result = expand(request.account, result, request.params)
        return json_response(result)

    async def _fault(self, method: str, path: str) -> Response | None:
        for fault in self.state.faults:
            if not fault.matches(method, path) or random.random() >= fault.rate:
                continue
            if fault.times is not None:
                fault.times -= 1
            if fault.latency_ms:
                await asyncio.sleep(fault.latency_ms / 1000)
            if fault.status is None:
                return None
            return _error_response(_fault_error(fault.status))
        return None


def _fault_error(status: int) -> StripeError:
    if status == 429:
        return RateLimitError(
            "Too many requests hit the API too quickly.", code="rate_limit", status=429
        )
    if status == 402:
        return CardError(
            "Your card was declined.", code="card_declined", decline_code="generic_decline"
        )
    if status >= 500:
        return APIError("An error occurred with our connection to Stripe.", status=status)
    return InvalidRequest("Injected failure.", status=status)


def _authenticate(headers: dict[str, str]) -> tuple[str, str]:
    auth = headers.get("authorization", "")
    key = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
    if not key:
        raise AuthenticationError(
            "You did not provide an API key. You need to provide your API key in the "
            "Authorization header, using Bearer auth "
            "(e.g. 'Authorization: Bearer YOUR_SECRET_KEY')."
        )
    found = _KEY.match(key)
    if not found:
        shown = key[:8] + "*" * max(0, len(key) - 12) + key[-4:] if len(key) > 12 else key
        raise AuthenticationError(f"Invalid API Key provided: {shown}", code="api_key_invalid")
    kind = "publishable" if found.group(1) == "pk" else "secret"
    return kind, found.group(2)


def _params(
    scope: dict[str, Any], body: bytes, headers: dict[str, str], path: str
) -> dict[str, Any]:
    try:
        params = decode(scope.get("query_string", b""))
        if body:
            if headers.get("content-type", "").startswith("application/json"):
                loaded = json.loads(body)
                if not isinstance(loaded, dict):
                    raise InvalidRequest("The body must be a JSON object.")
                params.update(loaded)
            else:
                params.update(decode(body))
    except FormError as error:
        raise InvalidRequest(str(error), param=error.param) from None
    except (ValueError, UnicodeDecodeError):
        raise InvalidRequest("The request body could not be parsed.") from None
    return params


def _base_url(scope: dict[str, Any], headers: dict[str, str]) -> str:
    host = headers.get("host")
    if not host:
        server = scope.get("server") or ("127.0.0.1", 12111)
        host = f"{server[0]}:{server[1]}"
    return f"{scope.get('scheme', 'http')}://{host}"


def _fingerprint(params: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()


def _idempotent_replay(
    account: Any, method: str, path: str, params: dict[str, Any], key: str
) -> Response | None:
    previous: IdempotentResult | None = account.idempotency.get(key)
    if previous is None:
        return None
    if previous.path != path or previous.method != method:
        raise IdempotencyError(
            "Keys for idempotent requests can only be used for the same endpoint they were "
            "first used for.",
            param="idempotency_key",
        )
    if previous.fingerprint != _fingerprint(params):
        raise IdempotencyError(
            "Keys for idempotent requests can only be used with the same parameters they were "
            "first used with. Try using a key other than '" + key + "' if you meant to execute "
            "a different request.",
        )
    return Response(
        status=previous.status,
        body=previous.body,
        headers={"Idempotent-Replayed": "true"},
    )


def json_response(data: Any, status: int = 200) -> Response:
    return Response(status=status, body=json.dumps(data).encode())


def _error_response(error: StripeError) -> Response:
    headers = {}
    if error.status in (429,) or error.status >= 500:
        headers["Stripe-Should-Retry"] = "true"
    return Response(status=error.status, body=json.dumps(error.body()).encode(), headers=headers)


async def _send(send: Any, response: Response) -> None:
    headers = [(b"content-type", response.content_type.encode())]
    headers += [(k.lower().encode(), v.encode()) for k, v in response.headers.items()]
    headers.append((b"content-length", str(len(response.body)).encode()))
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await send({"type": "http.response.body", "body": response.body})


def create_sandbox_app(state_file: str | Path | None = None) -> SandboxApp:
    """The sandbox ASGI app; with ``state_file`` its accounts survive a restart."""
    return SandboxApp(SandboxState(Path(state_file) if state_file else None))
