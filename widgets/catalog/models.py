from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from portal.db import Base, UTCDateTime


class CatalogSnapshot(Base):
    """The last copy of a tenant's active products and prices read from Stripe."""

    __tablename__ = "catalog_snapshot"

    tenant_id: Mapped[str] = mapped_column(
        String(40), ForeignKey("tenant.id", ondelete="CASCADE"), primary_key=True
    )
    products: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    prices: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    refreshed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Bumped on every refresh, so processes can tell a cached copy is old without reading it.
    version: Mapped[int] = mapped_column(Integer, default=1)
