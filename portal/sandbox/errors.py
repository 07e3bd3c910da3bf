"""Errors with the bodies and status codes Stripe answers with."""

from __future__ import annotations

from typing import Any


class StripeError(Exception):
    status = 400
    type = "invalid_request_error"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        status: int | None = None,
        decline_code: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.param = param
        self.decline_code = decline_code
        self.extra = extra or {}
        if status is not None:
            self.status = status

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"type": self.type, "message": self.message}
        if self.code:
            error["code"] = self.code
            error["doc_url"] = f"https://docs.stripe.com/error-codes/{self.code.replace('_', '-')}"
        if self.param:
            error["param"] = self.param
        if self.decline_code:
            error["decline_code"] = self.decline_code
        error.update(self.extra)
        return {"error": error}


class InvalidRequest(StripeError):
    pass


class NotFound(InvalidRequest):
    status = 404

    def __init__(self, kind: str, object_id: str, param: str = "id") -> None:
        super().__init__(f"No such {kind}: '{object_id}'", code="resource_missing", param=param)


class AuthenticationError(StripeError):
    status = 401
    type = "invalid_request_error"


class PermissionError_(StripeError):
    status = 403
    type = "invalid_request_error"


class CardError(StripeError):
    status = 402
    type = "card_error"


class IdempotencyError(StripeError):
    status = 400
    type = "idempotency_error"


class RateLimitError(StripeError):
    status = 429
    type = "invalid_request_error"


class APIError(StripeError):
    status = 500
    type = "api_error"


def missing(param: str) -> InvalidRequest:
    return InvalidRequest(
        f"Missing required param: {param}.", code="parameter_missing", param=param
    )


def invalid(param: str, message: str | None = None) -> InvalidRequest:
    return InvalidRequest(
        message or f"Invalid value for {param}.", code="parameter_invalid_empty", param=param
    )
