"""How the tenant API's OpenAPI document describes its errors.

Litestar documents a 400 in its own exception shape for every route with parameters; the
portal answers every error as ``{"error": {"code", "message"}}`` (portal/errors.py) instead.
Each tenant API route lists these responses, so that the document says what clients get.
"""

from __future__ import annotations

import msgspec
from litestar.openapi import ResponseSpec


class ErrorDetail(msgspec.Struct):
    code: str
    message: str
    # The field at fault, when there is one.
    param: str | msgspec.UnsetType = msgspec.UNSET
    # True when the same request may succeed later (Stripe was busy or unreachable).
    retryable: bool | msgspec.UnsetType = msgspec.UNSET


class ErrorBody(msgspec.Struct):
    error: ErrorDetail


_DESCRIPTIONS = {
    400: "The body is not JSON, or the request cannot be understood",
    401: "No valid API key (or operator token)",
    403: "Authenticated but not allowed",
    404: "No such object for this tenant",
    409: "The request conflicts with the current state",
    413: "The body is over 1 MiB",
    422: "A field is missing, of the wrong type, unknown or out of range",
    429: "Too many requests, here or at Stripe",
    502: "Stripe failed to complete the request",
    503: "Stripe or the database is unavailable",
}

# Every status the contract names for the tenant API ("as fits"), and 413.
API_ERRORS: dict[int, ResponseSpec] = {
    status: ResponseSpec(data_container=ErrorBody, generate_examples=False, description=text)
    for status, text in _DESCRIPTIONS.items()
}
