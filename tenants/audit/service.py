"""Writing and reading the audit log; secrets never enter it, only that they changed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from .models import AuditEntry


def record(
    session: AsyncSession, tenant_id: str, actor: str, action: str, details: Mapping[str, Any]
) -> None:
    """Add an entry to the caller's transaction: it is kept only if the change is."""
    session.add(AuditEntry(tenant_id=tenant_id, actor=actor, action=action, details=dict(details)))


def changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, Any]:
    """``{field: {"from": old, "to": new}}`` for each field whose value differs."""
    return {
        key: {"from": before.get(key), "to": after.get(key)}
        for key in after
        if before.get(key) != after.get(key)
    }


async def entries(
    session: AsyncSession, tenant_id: str, limit: int = 50, before: int | None = None
) -> Sequence[AuditEntry]:
    """Newest first; ``before`` (an entry id) pages back."""
    query = select(AuditEntry).where(AuditEntry.tenant_id == tenant_id)
    if before is not None:
        query = query.where(AuditEntry.id < before)
    return (await session.scalars(query.order_by(AuditEntry.id.desc()).limit(limit))).all()
