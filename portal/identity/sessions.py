"""Session tokens: opaque ``bpst_…`` tokens a tenant's server asks for, stored as hashes."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from portal.crypto import hash_key, new_key
from portal.db import utcnow
from portal.errors import NotFound, Unauthorized

from .models import UserSession

TOKEN_PREFIX = "bpst_"  # noqa: S105 (a prefix, not a secret)
MIN_TTL, MAX_TTL, DEFAULT_TTL = 60, 86_400, 3_600


async def create_session(
    session: AsyncSession,
    *,
    tenant_id: str,
    customer_id: str | None,
    email: str | None,
    ttl_seconds: int,
    return_url: str | None,
) -> tuple[UserSession, str]:
    """Store a new session; the token is returned here only."""
    token = new_key(TOKEN_PREFIX, 40)
    row = UserSession(
        id=new_key("bps_", 20),
        tenant_id=tenant_id,
        token_hash=hash_key(token),
        customer_id=customer_id,
        email=email,
        return_url=return_url,
        expires_at=utcnow() + timedelta(seconds=ttl_seconds),
    )
    session.add(row)
    await session.commit()
    return row, token


async def find_session(
    session: AsyncSession, token: str, now: datetime | None = None
) -> UserSession:
    """The live session of ``token`` or 401: unknown, expired and revoked look alike."""
    row = None
    if token.startswith(TOKEN_PREFIX) and len(token) < 200:
        row = await session.scalar(
            select(UserSession).where(UserSession.token_hash == hash_key(token))
        )
    if row is None or row.revoked_at is not None:
        raise Unauthorized("The session token is not valid.", code="session_invalid")
    if row.expires_at <= (now or utcnow()):
        raise Unauthorized("The session has expired; ask for a new link.", code="session_expired")
    return row


async def revoke_session(session: AsyncSession, *, tenant_id: str, session_id: str) -> UserSession:
    row = await session.get(UserSession, session_id)
    if row is None or row.tenant_id != tenant_id:
        raise NotFound(f"No session {session_id}", code="session_not_found")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        await session.commit()
    return row
