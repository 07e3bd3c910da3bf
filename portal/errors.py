"""The one error hierarchy: every error a client sees has a status and a stable code."""

from __future__ import annotations

from typing import Any


class BillportError(Exception):
    status_code = 400
    code = "bad_request"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status_code: int | None = None,
        param: str | None = None,
        retryable: bool = False,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status_code is not None:
            self.status_code = status_code
        self.param = param
        self.retryable = retryable

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.param:
            error["param"] = self.param
        if self.retryable:
            error["retryable"] = True
        return {"error": error}


class BadRequest(BillportError):
    status_code = 400
    code = "bad_request"


class ValidationFailed(BillportError):
    status_code = 422
    code = "validation_error"


class Unauthorized(BillportError):
    status_code = 401
    code = "unauthorized"


class Forbidden(BillportError):
    status_code = 403
    code = "forbidden"


class NotFound(BillportError):
    status_code = 404
    code = "not_found"


class Conflict(BillportError):
    status_code = 409
    code = "conflict"


class TooManyRequests(BillportError):
    status_code = 429
    code = "rate_limited"


class UpstreamError(BillportError):
    """Stripe failed or could not be reached; the action can be retried."""

    status_code = 502
    code = "stripe_error"


class Unavailable(BillportError):
    status_code = 503
    code = "unavailable"


def error_body(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, **extra}}
