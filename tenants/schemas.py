"""What the tenant API reads and writes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Url = Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]
Origin = Annotated[str, msgspec.Meta(min_length=1, max_length=300)]


class TenantCreate(msgspec.Struct, forbid_unknown_fields=True):
    name: Name
    stripe_secret_key: Annotated[str, msgspec.Meta(min_length=1, max_length=255)]
    stripe_publishable_key: Annotated[str, msgspec.Meta(max_length=255)] | None = None
    stripe_api_base: Url | None = None
    allowed_origins: Annotated[list[Origin], msgspec.Meta(max_length=50)] = []
    callback_url: Url | None = None


class TenantCreated(msgspec.Struct):
    """The only answer that carries the tenant's secrets; they are not shown again."""

    id: str
    name: str
    publishable_key: str
    secret_key: str
    token_secret: str
    callback_secret: str
    livemode: bool


class TenantView(msgspec.Struct):
    id: str
    name: str
    publishable_key: str
    livemode: bool
    allowed_origins: list[str]
    callback_url: str | None
    legacy_hash_enabled: bool
    widget_options: dict[str, Any]
    stripe_publishable_key: str | None
    stripe_api_base: str | None
    stripe_secret_key_hint: str
    secret_key_hint: str
    # The endpoint Billport registered in the tenant's Stripe account, if it could.
    stripe_webhook_endpoint_id: str | None
    # Whether Stripe events can be verified (a registered or pasted signing secret is set).
    stripe_webhook_configured: bool
    created_at: datetime
    updated_at: datetime


class TenantUpdate(msgspec.Struct, forbid_unknown_fields=True):
    name: Name | msgspec.UnsetType = msgspec.UNSET
    allowed_origins: Annotated[list[Origin], msgspec.Meta(max_length=50)] | msgspec.UnsetType = (
        msgspec.UNSET
    )
    callback_url: Url | msgspec.UnsetType | None = msgspec.UNSET
    legacy_hash_enabled: bool | msgspec.UnsetType = msgspec.UNSET
    widget_options: dict[str, Any] | msgspec.UnsetType = msgspec.UNSET
    # Another key of the same Stripe account and mode (rolled, or restricted).
    stripe_secret_key: (
        Annotated[str, msgspec.Meta(min_length=1, max_length=255)] | msgspec.UnsetType
    ) = msgspec.UNSET
    stripe_publishable_key: (
        Annotated[str, msgspec.Meta(max_length=255)] | msgspec.UnsetType | None
    ) = msgspec.UNSET
    # The signing secret (whsec_…) of a Stripe webhook endpoint the tenant created itself.
    stripe_webhook_secret: (
        Annotated[str, msgspec.Meta(min_length=1, max_length=255)] | msgspec.UnsetType
    ) = msgspec.UNSET
