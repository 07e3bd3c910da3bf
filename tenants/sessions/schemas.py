from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec

from portal.identity.sessions import DEFAULT_TTL, MAX_TTL, MIN_TTL


class SessionCreate(msgspec.Struct, forbid_unknown_fields=True):
    customer_id: Annotated[str, msgspec.Meta(max_length=255)] | None = None
    email: Annotated[str, msgspec.Meta(max_length=512)] | None = None
    ttl_seconds: Annotated[int, msgspec.Meta(ge=MIN_TTL, le=MAX_TTL)] = DEFAULT_TTL
    return_url: Annotated[str, msgspec.Meta(max_length=2000)] | None = None


class SessionCreated(msgspec.Struct):
    id: str
    token: str
    expires_at: datetime
    url: str
    customer_id: str | None
    email: str | None


class SessionRevoked(msgspec.Struct):
    id: str
    revoked: bool
