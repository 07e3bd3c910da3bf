"""Billflow's identity: ``email`` or ``customer_id`` plus an HMAC-SHA256 ``hash`` of it."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

from portal.errors import Forbidden, Unauthorized


def legacy_hash(value: str, token_secret: str) -> str:
    return hmac.new(token_secret.encode(), value.encode(), hashlib.sha256).hexdigest()


def verify_legacy_hash(
    value: str, given: str, token_secret: str | Sequence[str], *, enabled: bool
) -> None:
    if not enabled:
        raise Forbidden(
            "The Billflow hash identity is off for this tenant; enable legacy_hash_enabled or "
            "use a user token.",
            code="legacy_hash_disabled",
        )
    secrets = [token_secret] if isinstance(token_secret, str) else token_secret
    given = given.strip().lower()
    if len(given) > 128 or not any(
        hmac.compare_digest(legacy_hash(value, secret).encode(), given.encode())
        for secret in secrets
    ):
        raise Unauthorized(
            "The hash does not match: it must be the lowercase hex HMAC-SHA256 of the email or "
            "customer id, keyed with the tenant's token secret.",
            code="legacy_hash_mismatch",
        )
