"""Route table of the sandbox: resources register handlers with ``@route``."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .errors import InvalidRequest
from .state import Account, SandboxState


@dataclass
class Request:
    method: str
    path: str
    params: dict[str, Any]
    path_params: dict[str, str]
    state: SandboxState
    account: Account | None
    # "secret", "publishable" or None for control and static routes.
    key_kind: str | None
    headers: dict[str, str]
    idempotency_key: str | None = None
    base_url: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def acct(self) -> Account:
        assert self.account is not None
        return self.account

    def emit(
        self,
        event_type: str,
        obj: dict[str, Any],
        previous_attributes: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        request_info = {"id": self.extra.get("request_id"), "idempotency_key": self.idempotency_key}
        return self.state.emit(self.acct, event_type, obj, previous_attributes, request_info)


@dataclass
class Response:
    """A non-JSON answer (pages, PDFs, scripts) or a JSON one with a custom status."""

    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[[Request], "dict[str, Any] | Response"]

# auth: "secret" (sk only), "publishable" (sk or pk), "none" (control routes, hosted pages).
AUTH_LEVELS = {"secret", "publishable", "none"}


@dataclass
class Route:
    method: str
    pattern: re.Pattern[str]
    handler: Handler
    auth: str


ROUTES: list[Route] = []


def route(method: str, path: str, auth: str = "secret") -> Callable[[Handler], Handler]:
    """Register ``handler`` for ``method path``; ``{name}`` segments become path params."""
    assert auth in AUTH_LEVELS
    regex = "^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", path) + "$"

    def register(handler: Handler) -> Handler:
        ROUTES.append(Route(method.upper(), re.compile(regex), handler, auth))
        return handler

    return register


def match(method: str, path: str) -> tuple[Route, dict[str, str]] | str | None:
    """The route and its path params; ``"method"`` when only the method is wrong."""
    path_matched = False
    for candidate in ROUTES:
        found = candidate.pattern.match(path)
        if found:
            if candidate.method == method:
                return candidate, found.groupdict()
            path_matched = True
    return "method" if path_matched else None


def unrecognized(method: str, path: str) -> InvalidRequest:
    return InvalidRequest(
        f"Unrecognized request URL ({method}: {path}). Please see https://docs.stripe.com/api.",
        status=404,
    )
