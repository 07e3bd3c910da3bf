"""Tenants: the SaaS companies that use Billport, and their keys and settings."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from portal.db import Base, UTCDateTime, utcnow


class Tenant(Base):
    __tablename__ = "tenant"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    publishable_key: Mapped[str] = mapped_column(String(64), unique=True)
    # SHA-256 of the secret API key; the key itself is shown once, at creation.
    secret_key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    secret_key_hint: Mapped[str] = mapped_column(String(16))
    # Fernet ciphertexts (portal.crypto.Vault): readable only with BILLPORT_ENCRYPTION_KEYS.
    token_secret_encrypted: Mapped[str] = mapped_column(Text)
    stripe_secret_key_encrypted: Mapped[str] = mapped_column(Text)
    stripe_secret_key_hint: Mapped[str] = mapped_column(String(32))
    callback_secret_encrypted: Mapped[str] = mapped_column(Text)
    # The signing secret of the Stripe webhook endpoint events arrive through: registered by
    # Billport at creation, or pasted by the tenant when Stripe cannot reach the portal.
    stripe_webhook_secret_encrypted: Mapped[str | None] = mapped_column(Text, default=None)
    stripe_webhook_endpoint_id: Mapped[str | None] = mapped_column(String(255), default=None)
    stripe_publishable_key: Mapped[str | None] = mapped_column(String(255), default=None)
    stripe_api_base: Mapped[str | None] = mapped_column(String(500), default=None)
    livemode: Mapped[bool] = mapped_column(Boolean, default=False)
    allowed_origins: Mapped[list[str]] = mapped_column(JSON, default=list)
    callback_url: Mapped[str | None] = mapped_column(String(2000), default=None)
    # Set when the callback URL answered 410 Gone; setting a callback URL again clears it.
    callbacks_disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    legacy_hash_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    widget_options: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # The secret each rotation replaced, still accepted (or still signing) until its time
    # runs out, so the tenant can deploy the new one without an outage (tenants/keys.py).
    previous_secret_key_hash: Mapped[str | None] = mapped_column(
        String(64), default=None, index=True
    )
    previous_secret_key_expires_at: Mapped[datetime | None] = mapped_column(
        UTCDateTime, default=None
    )
    previous_token_secret_encrypted: Mapped[str | None] = mapped_column(Text, default=None)
    previous_token_secret_expires_at: Mapped[datetime | None] = mapped_column(
        UTCDateTime, default=None
    )
    previous_callback_secret_encrypted: Mapped[str | None] = mapped_column(Text, default=None)
    previous_callback_secret_expires_at: Mapped[datetime | None] = mapped_column(
        UTCDateTime, default=None
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
