"""User tokens: HS256 JWTs the tenant signs with its token secret (CONTRACT "User identity").

Verified with joserfc, the JOSE library of the Authlib project; only HS256 is accepted, so
``alg: none`` and public-key confusion tokens fail before any claim is read.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from joserfc import jwt
from joserfc.errors import BadSignatureError, JoseError
from joserfc.jwk import OctKey

from portal.errors import Forbidden, Unauthorized

MAX_LIFETIME = 24 * 3600
# Clock skew tolerated between the tenant's servers and Billport.
LEEWAY = 60
MAX_TOKEN_LENGTH = 4096
MAX_EMAIL_LENGTH = 512


@dataclass(frozen=True)
class UserClaims:
    email: str | None
    customer_id: str | None
    user_id: str | None
    expires_at: int


def _invalid(message: str, code: str = "invalid_token") -> Unauthorized:
    return Unauthorized(message, code=code)


def _unverified_audiences(token: str) -> list[str]:
    """The ``aud`` of a token whose signature failed, only to explain the failure."""
    try:
        payload = token.split(".")[1]
        data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError, binascii.Error, UnicodeDecodeError, RecursionError):
        # RecursionError: a payload of deeply nested arrays, read only to explain a refusal.
        return []
    aud = data.get("aud") if isinstance(data, dict) else None
    if isinstance(aud, str):
        return [aud]
    return [a for a in aud if isinstance(a, str)] if isinstance(aud, list) else []


def _other_tenant(audiences: list[str], publishable_key: str) -> Forbidden | None:
    if any(a.startswith("bp_pub_") and a != publishable_key for a in audiences):
        return Forbidden(
            "This user token was issued for another Billport tenant (its aud is another "
            "publishable key).",
            code="token_wrong_tenant",
        )
    return None


def _decode(token: str, secrets: Sequence[str]) -> jwt.Token:
    """Decoded with the first secret whose signature matches (during a rotation, two)."""
    for secret in secrets[:-1]:
        try:
            return jwt.decode(token, OctKey.import_key(secret), algorithms=["HS256"])
        except BadSignatureError:
            continue
    return jwt.decode(token, OctKey.import_key(secrets[-1]), algorithms=["HS256"])


def verify_user_token(
    token: str, *, publishable_key: str, token_secret: str | Sequence[str], now: int | None = None
) -> UserClaims:
    """The claims of a valid user token, or a 401/403 ``BillportError`` saying what is wrong.

    ``token_secret`` may list several secrets (the current one and one being rotated out).
    """
    now = int(time.time()) if now is None else now
    if not token or len(token) > MAX_TOKEN_LENGTH or token.count(".") != 2:
        raise _invalid("The user token is not a JWT (header.payload.signature).")
    secrets = [token_secret] if isinstance(token_secret, str) else list(token_secret)
    try:
        decoded = _decode(token, secrets)
    except BadSignatureError:
        other = _other_tenant(_unverified_audiences(token), publishable_key)
        if other is not None:
            raise other from None
        raise _invalid(
            "The user token's signature does not match: sign it with this tenant's token "
            "secret (bpts_…) using HS256.",
            code="token_bad_signature",
        ) from None
    except JoseError as exc:
        raise _invalid(
            f"The user token cannot be read ({exc.error}): use an HS256 JWT.",
        ) from None
    except (ValueError, TypeError, UnicodeDecodeError):
        raise _invalid("The user token cannot be read: use an HS256 JWT.") from None
    return _check_claims(decoded.claims, publishable_key, now)


def _check_claims(claims: dict[str, Any], publishable_key: str, now: int) -> UserClaims:
    aud = claims.get("aud")
    audiences = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
    if publishable_key not in audiences:
        other = _other_tenant([a for a in audiences if isinstance(a, str)], publishable_key)
        if other is not None:
            raise other
        raise _invalid(
            "The user token's aud claim must be this tenant's publishable key.",
            code="token_wrong_audience",
        )
    exp = claims.get("exp")
    if not isinstance(exp, int) or isinstance(exp, bool):
        raise _invalid("The user token needs an exp claim (a unix time).", code="token_no_expiry")
    if exp <= now - LEEWAY:
        raise _invalid("The user token has expired.", code="token_expired")
    iat = claims.get("iat")
    if iat is not None:
        if not isinstance(iat, int) or isinstance(iat, bool):
            raise _invalid("The user token's iat claim must be a unix time.")
        if iat > now + LEEWAY:
            raise _invalid("The user token was issued in the future; check the server clock.")
        if exp - iat > MAX_LIFETIME:
            raise _invalid(
                "The user token lives longer than 24 hours (exp - iat).", code="token_too_long"
            )
    elif exp - now > MAX_LIFETIME + LEEWAY:
        raise _invalid("The user token expires more than 24 hours from now.", code="token_too_long")
    nbf = claims.get("nbf")
    if isinstance(nbf, int) and nbf > now + LEEWAY:
        raise _invalid("The user token is not valid yet (nbf).")

    email, customer_id = claims.get("email"), claims.get("customer_id")
    if (email is None) == (customer_id is None):
        raise _invalid(
            "The user token must carry exactly one of the claims email or customer_id.",
            code="token_identity_claims",
        )
    if email is not None and not valid_email(email):
        raise _invalid("The token's email claim is not a valid address.", "invalid_email")
    if customer_id is not None and not valid_customer_id(customer_id):
        raise _invalid(
            "The token's customer_id must be a Stripe id (cus_…).", "invalid_customer_id"
        )
    user_id = claims.get("user_id")
    if user_id is not None:
        if isinstance(user_id, int) and not isinstance(user_id, bool):
            user_id = str(user_id)
        if not isinstance(user_id, str) or not 0 < len(user_id) <= 255:
            raise _invalid("The user token's user_id must be a string of at most 255 characters.")
    return UserClaims(email=email, customer_id=customer_id, user_id=user_id, expires_at=exp)


def valid_email(email: object) -> bool:
    return (
        isinstance(email, str)
        and len(email) <= MAX_EMAIL_LENGTH
        and email.count("@") == 1
        and not email.startswith("@")
        and not email.endswith("@")
        and not any(c.isspace() or c in '<>"' for c in email)
    )


def valid_customer_id(customer_id: object) -> bool:
    return (
        isinstance(customer_id, str)
        and customer_id.startswith("cus_")
        and 4 < len(customer_id) <= 255
        and customer_id.isascii()
        and customer_id.replace("_", "").isalnum()
    )
