"""Dashboard accounts and who belongs to which tenant, with which role."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from portal.db import Base, UTCDateTime, utcnow

ROLES = ("owner", "admin", "viewer")
ID = BigInteger().with_variant(Integer(), "sqlite")


class DashboardUser(Base):
    __tablename__ = "dashboard_user"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    # Stored lowercased: one account per address, however it is typed.
    email: Mapped[str] = mapped_column(String(320), unique=True)
    # argon2id; None for an account that only signs in through single sign-on.
    password_hash: Mapped[str | None] = mapped_column(String(255), default=None)
    # Sessions carry the generation they were issued in; "sign out everywhere" moves it on.
    session_generation: Mapped[int] = mapped_column(Integer, default=0)
    oidc_subject: Mapped[str | None] = mapped_column(String(500), unique=True, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_sign_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class Membership(Base):
    __tablename__ = "tenant_member"
    __table_args__ = (UniqueConstraint("tenant_id", "email", name="uq_tenant_member_email"),)

    id: Mapped[int] = mapped_column(ID, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(
        String(40), ForeignKey("tenant.id", ondelete="CASCADE"), index=True
    )
    # Invitations name an email before its account exists; the account joins at sign-up.
    email: Mapped[str] = mapped_column(String(320), index=True)
    user_id: Mapped[str | None] = mapped_column(
        String(40), ForeignKey("dashboard_user.id", ondelete="CASCADE"), index=True, default=None
    )
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
