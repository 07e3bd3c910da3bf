"""User tokens as a tenant's server mints them."""

from __future__ import annotations

import time
from typing import Any

from joserfc import jwt
from joserfc.jwk import OctKey


def mint_user_token(tenant: dict[str, Any], lifetime: int = 3600, **identity: Any) -> str:
    now = int(time.time())
    claims = {"aud": tenant["publishable_key"], "iat": now, "exp": now + lifetime, **identity}
    return jwt.encode({"alg": "HS256"}, claims, OctKey.import_key(tenant["token_secret"]))
