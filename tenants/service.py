"""Registering tenants, finding them by key, and changing their settings."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

import msgspec
import stripe
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from portal.crypto import Vault, hash_key, new_key, new_webhook_secret
from portal.db import utcnow
from portal.errors import NotFound, Unauthorized, ValidationFailed
from portal.stripe_gateway import (
    StripeGateway,
    check_api_base,
    idempotency_key,
    key_livemode,
    map_stripe_error,
)
from portal.stripe_intake.processor import ENABLED_EVENTS

from .audit.service import changes, record
from .keys import SECRET_PREFIX, TOKEN_SECRET_PREFIX, RotatedKey, hint, rotate, token_secrets
from .models import Tenant
from .schemas import TenantCreate, TenantCreated, TenantUpdate, TenantView

log = logging.getLogger("billport.tenants")

PUBLISHABLE_PREFIX = "bp_pub_"
MAX_WIDGET_OPTIONS_BYTES = 16_384


def normalize_origin(origin: str) -> str:
    """``https://App.example.com/`` → ``https://app.example.com``; anything else is refused."""
    try:
        parts = urlsplit(origin.strip())
    except ValueError:  # e.g. an unclosed IPv6 bracket, "http://["
        parts = urlsplit("")
    if (
        parts.scheme not in {"http", "https"}
        or not parts.hostname
        or parts.path not in {"", "/"}
        or parts.query
        or parts.fragment
        or parts.username
        or parts.password
    ):
        raise ValidationFailed(
            f"{origin!r} is not an origin: use scheme://host[:port], e.g. https://app.example.com",
            code="invalid_origin",
            param="allowed_origins",
        )
    try:
        port = parts.port
    except ValueError as exc:
        raise ValidationFailed(
            f"{origin!r} has an invalid port", code="invalid_origin", param="allowed_origins"
        ) from exc
    host = parts.hostname.lower()
    # An IPv6 address keeps its brackets, as browsers write it in an Origin.
    netloc = (f"[{host}]" if ":" in host else host) + (f":{port}" if port else "")
    return f"{parts.scheme}://{netloc}"


def normalize_origins(origins: Sequence[str]) -> list[str]:
    unique: dict[str, None] = {}
    for origin in origins:
        unique[normalize_origin(origin)] = None
    return list(unique)


def check_callback_url(url: str | None) -> str | None:
    if url is None or url.strip() == "":
        return None
    try:
        parts = urlsplit(url.strip())
    except ValueError:  # e.g. an unclosed IPv6 bracket
        parts = urlsplit("")
    # Control characters: urlsplit drops some, an HTTP client would refuse them all.
    if (
        parts.scheme not in {"http", "https"}
        or not parts.hostname
        or parts.fragment
        or not url.strip().isprintable()
    ):
        raise ValidationFailed(
            "The callback URL must be an http(s) URL such as https://app.example.com/billing/hook",
            code="invalid_callback_url",
            param="callback_url",
        )
    return url.strip()


def _check_publishable_key(key: str | None, livemode: bool) -> str | None:
    if not key:
        return None
    expected = "pk_live_" if livemode else "pk_test_"
    if not key.startswith(("pk_test_", "pk_live_")):
        raise ValidationFailed(
            "A Stripe publishable key starts with pk_test_ or pk_live_.",
            code="stripe_publishable_key_invalid",
            param="stripe_publishable_key",
        )
    if not key.startswith(expected):
        raise ValidationFailed(
            "The Stripe publishable key and secret key must both be test keys or both live keys.",
            code="stripe_keys_mismatch",
            param="stripe_publishable_key",
        )
    return key


def _check_widget_options(options: dict[str, Any]) -> dict[str, Any]:
    if len(json.dumps(options)) > MAX_WIDGET_OPTIONS_BYTES:
        raise ValidationFailed(
            f"widget_options must be at most {MAX_WIDGET_OPTIONS_BYTES} bytes of JSON",
            param="widget_options",
        )
    return options


def _check_webhook_secret(secret: str) -> str:
    secret = secret.strip()
    if not secret.startswith("whsec_") or len(secret) < 16:
        raise ValidationFailed(
            "A Stripe webhook signing secret starts with whsec_; copy it from the endpoint's "
            "page in the Stripe dashboard.",
            code="invalid_stripe_webhook_secret",
            param="stripe_webhook_secret",
        )
    return secret


class TenantService:
    def __init__(
        self,
        session: AsyncSession,
        vault: Vault,
        gateway: StripeGateway,
        public_url: str | None = None,
        actor: str = "system",
    ) -> None:
        self.session = session
        self.vault = vault
        self.gateway = gateway
        # Where Stripe reaches this portal; without it no webhook endpoint is registered.
        self.public_url = public_url
        # Who the audit log names for the changes made through this service.
        self.actor = actor

    async def verify_stripe_key(self, secret_key: str, api_base: str | None) -> None:
        """One cheap Stripe call proving the key works (and can read customers)."""
        client = self.gateway.client(secret_key, api_base)
        try:
            await client.v1.customers.list_async(params={"limit": 1})
        except stripe.AuthenticationError as exc:
            # Stripe's message may quote the key: never echo a secret back.
            said = (exc.user_message or "invalid API key").replace(secret_key, hint(secret_key))
            raise ValidationFailed(
                "Stripe rejected this secret key: " + said,
                code="stripe_key_rejected",
                param="stripe_secret_key",
            ) from exc
        except stripe.PermissionError as exc:
            raise ValidationFailed(
                "This restricted key cannot read customers; Billport needs write access to "
                "Customers, Subscriptions, Invoices, PaymentMethods, SetupIntents, "
                "PaymentIntents and Webhook Endpoints, and read access to Products and Prices.",
                code="stripe_key_permissions",
                param="stripe_secret_key",
            ) from exc
        except stripe.StripeError as exc:
            raise map_stripe_error(exc) from exc

    async def create(self, data: TenantCreate, owner: Any = None) -> TenantCreated:
        """Register a tenant; ``owner``, a dashboard user, becomes its owner in the same
        transaction."""
        name = data.name.strip()
        if not name:
            raise ValidationFailed("name must not be blank", param="name")
        livemode = key_livemode(data.stripe_secret_key)
        api_base = check_api_base(data.stripe_api_base)
        publishable = _check_publishable_key(data.stripe_publishable_key, livemode)
        origins = normalize_origins(data.allowed_origins)
        callback_url = check_callback_url(data.callback_url)
        await self.verify_stripe_key(data.stripe_secret_key, api_base)

        tenant_id = new_key("ten_", 20)
        endpoint = await self.register_stripe_webhook(data.stripe_secret_key, api_base, tenant_id)
        secret_key = new_key(SECRET_PREFIX, 32)
        token_secret = new_key(TOKEN_SECRET_PREFIX, 40)
        callback_secret = new_webhook_secret()
        tenant = Tenant(
            id=tenant_id,
            name=name,
            publishable_key=new_key(PUBLISHABLE_PREFIX, 24),
            secret_key_hash=hash_key(secret_key),
            secret_key_hint=hint(secret_key),
            token_secret_encrypted=self.vault.encrypt(token_secret),
            stripe_secret_key_encrypted=self.vault.encrypt(data.stripe_secret_key),
            stripe_secret_key_hint=hint(data.stripe_secret_key),
            callback_secret_encrypted=self.vault.encrypt(callback_secret),
            stripe_webhook_endpoint_id=endpoint[0] if endpoint else None,
            stripe_webhook_secret_encrypted=self.vault.encrypt(endpoint[1]) if endpoint else None,
            stripe_publishable_key=publishable,
            stripe_api_base=api_base,
            livemode=livemode,
            allowed_origins=origins,
            callback_url=callback_url,
            legacy_hash_enabled=False,
            widget_options={},
        )
        self.session.add(tenant)
        # The rows below refer to the tenant: it goes in first.
        await self.session.flush()
        if owner is not None:
            from .dashboard.models import Membership

            self.session.add(
                Membership(tenant_id=tenant.id, email=owner.email, user_id=owner.id, role="owner")
            )
        record(self.session, tenant.id, self.actor, "tenant.created", {"name": name})
        await self.session.commit()
        return TenantCreated(
            id=tenant.id,
            name=tenant.name,
            publishable_key=tenant.publishable_key,
            secret_key=secret_key,
            token_secret=token_secret,
            callback_secret=callback_secret,
            livemode=livemode,
        )

    async def register_stripe_webhook(
        self, secret_key: str, api_base: str | None, tenant_id: str, again: bool = False
    ) -> tuple[str, str] | None:
        """Create the tenant's intake endpoint in its Stripe account: (endpoint id, secret).

        None when Stripe refuses, e.g. because the portal's public URL is not reachable from
        the internet (Stripe refuses localhost URLs); the tenant can paste a secret later.
        """
        if not self.public_url:
            return None
        url = f"{self.public_url}/stripe/webhooks/{tenant_id}"
        client = self.gateway.client(secret_key, api_base)
        # Registering again (from the dashboard) is a new action each time.
        action = ("webhook_endpoint", tenant_id, *((new_key("", 12),) if again else ()))
        params: Any = {
            "url": url,
            "enabled_events": list(ENABLED_EVENTS),
            # Events arrive in the shapes of the API version the portal's SDK speaks.
            "api_version": stripe.api_version,
            "description": "Billport",
            "metadata": {"billport_tenant_id": tenant_id},
        }
        try:
            endpoint = await client.v1.webhook_endpoints.create_async(
                params=params,
                options={"idempotency_key": idempotency_key(*action)},
            )
        except stripe.StripeError as exc:
            log.warning(
                "Stripe did not register the webhook endpoint %s: %s; the tenant can set "
                "stripe_webhook_secret instead",
                url,
                exc.user_message or exc,
            )
            return None
        if not endpoint.secret:
            return None
        return endpoint.id, endpoint.secret

    async def by_secret_key(self, secret_key: str) -> Tenant:
        if not secret_key.startswith(SECRET_PREFIX):
            hint = (
                " (that is the publishable key; use the secret key bp_sk_…)"
                if secret_key.startswith(PUBLISHABLE_PREFIX)
                else ""
            )
            raise Unauthorized("Invalid API key" + hint, code="invalid_api_key")
        digest = hash_key(secret_key)
        tenant = await self.session.scalar(select(Tenant).where(Tenant.secret_key_hash == digest))
        if tenant is None:
            # A key replaced by a rotation works until its overlap runs out.
            tenant = await self.session.scalar(
                select(Tenant).where(
                    Tenant.previous_secret_key_hash == digest,
                    Tenant.previous_secret_key_expires_at > utcnow(),
                )
            )
        if tenant is None:
            raise Unauthorized("Invalid API key", code="invalid_api_key")
        return tenant

    async def by_publishable_key(self, key: str) -> Tenant:
        tenant = None
        if key.startswith(PUBLISHABLE_PREFIX) and len(key) <= 64:
            tenant = await self.session.scalar(select(Tenant).where(Tenant.publishable_key == key))
        if tenant is None:
            raise NotFound(
                "No Billport tenant has this publishable key; check data-key.",
                code="unknown_publishable_key",
            )
        return tenant

    def stripe_publishable_key(self, tenant: Tenant) -> str | None:
        """The key Stripe.js needs in the browser; the sandbox derives it from the secret key."""
        if tenant.stripe_publishable_key:
            return tenant.stripe_publishable_key
        if tenant.stripe_api_base:
            secret = self.vault.decrypt(tenant.stripe_secret_key_encrypted)
            if secret.startswith("sk_test_"):
                return "pk_test_" + secret.removeprefix("sk_test_")
        return None

    def token_secrets(self, tenant: Tenant) -> list[str]:
        return token_secrets(tenant, self.vault)

    async def rotate_key(self, tenant: Tenant, name: str, overlap_seconds: int) -> RotatedKey:
        rotated = rotate(tenant, name, overlap_seconds, self.vault)
        details = {"key": name, "overlap_seconds": overlap_seconds}
        record(self.session, tenant.id, self.actor, "key.rotated", details)
        await self.session.commit()
        return rotated

    async def list(self) -> Sequence[Tenant]:
        return (await self.session.scalars(select(Tenant).order_by(Tenant.created_at))).all()

    async def update(self, tenant: Tenant, patch: TenantUpdate) -> Tenant:
        before = settings_of(tenant)
        if patch.name is not msgspec.UNSET:
            name = patch.name.strip()
            if not name:
                raise ValidationFailed("name must not be blank", param="name")
            tenant.name = name
        if patch.allowed_origins is not msgspec.UNSET:
            tenant.allowed_origins = normalize_origins(patch.allowed_origins)
        if patch.callback_url is not msgspec.UNSET:
            tenant.callback_url = check_callback_url(patch.callback_url)
            tenant.callbacks_disabled_at = None
        if patch.legacy_hash_enabled is not msgspec.UNSET:
            tenant.legacy_hash_enabled = patch.legacy_hash_enabled
        if patch.widget_options is not msgspec.UNSET:
            tenant.widget_options = _check_widget_options(patch.widget_options)
        if patch.stripe_publishable_key is not msgspec.UNSET:
            tenant.stripe_publishable_key = _check_publishable_key(
                patch.stripe_publishable_key, tenant.livemode
            )
        details = changes(before, settings_of(tenant))
        if patch.stripe_secret_key is not msgspec.UNSET:
            await self._replace_stripe_key(tenant, patch.stripe_secret_key)
            details["stripe_secret_key"] = {"to": tenant.stripe_secret_key_hint}
        if patch.stripe_webhook_secret is not msgspec.UNSET:
            secret = _check_webhook_secret(patch.stripe_webhook_secret)
            tenant.stripe_webhook_secret_encrypted = self.vault.encrypt(secret)
            details["stripe_webhook_secret"] = {"to": "a new signing secret"}
        if details:
            record(self.session, tenant.id, self.actor, "settings.updated", details)
        await self.session.commit()
        return tenant

    async def _replace_stripe_key(self, tenant: Tenant, secret_key: str) -> None:
        """Another key of the same Stripe mode (a rolled key, or a restricted one)."""
        livemode = key_livemode(secret_key)
        if livemode != tenant.livemode:
            mode = "live" if tenant.livemode else "test"
            raise ValidationFailed(
                f"This tenant is in {mode} mode: give it a {mode} key (sk_{mode}_… or "
                f"rk_{mode}_…). Use another tenant for the other mode.",
                code="stripe_mode_mismatch",
                param="stripe_secret_key",
            )
        await self.verify_stripe_key(secret_key, tenant.stripe_api_base)
        tenant.stripe_secret_key_encrypted = self.vault.encrypt(secret_key)
        tenant.stripe_secret_key_hint = hint(secret_key)

    async def register_intake(self, tenant: Tenant) -> None:
        """Register (again) Billport's webhook endpoint in the tenant's Stripe account."""
        secret_key = self.vault.decrypt(tenant.stripe_secret_key_encrypted)
        endpoint = await self.register_stripe_webhook(
            secret_key, tenant.stripe_api_base, tenant.id, again=True
        )
        if endpoint is None:
            raise ValidationFailed(
                "Stripe did not accept Billport's endpoint: Stripe only sends events to public "
                "https URLs. Paste the signing secret of an endpoint you created yourself "
                "instead (stripe_webhook_secret).",
                code="webhook_registration_failed",
            )
        replaced = tenant.stripe_webhook_endpoint_id
        if replaced and replaced != endpoint[0]:
            # One endpoint per tenant, or Stripe would send every event twice.
            client = self.gateway.client(secret_key, tenant.stripe_api_base)
            try:
                await client.v1.webhook_endpoints.delete_async(replaced)
            except stripe.StripeError as exc:
                log.warning("could not delete the replaced webhook endpoint %s: %s", replaced, exc)
        tenant.stripe_webhook_endpoint_id = endpoint[0]
        tenant.stripe_webhook_secret_encrypted = self.vault.encrypt(endpoint[1])
        details = {"endpoint": endpoint[0]}
        record(self.session, tenant.id, self.actor, "stripe_webhook.registered", details)
        await self.session.commit()

    def stripe_client(self, tenant: Tenant) -> stripe.StripeClient:
        return self.gateway.client(
            self.vault.decrypt(tenant.stripe_secret_key_encrypted), tenant.stripe_api_base
        )


def settings_of(tenant: Tenant) -> dict[str, Any]:
    """The settings a tenant changes, as the audit log compares them (no secrets)."""
    return {
        "name": tenant.name,
        "allowed_origins": list(tenant.allowed_origins),
        "callback_url": tenant.callback_url,
        "legacy_hash_enabled": tenant.legacy_hash_enabled,
        "widget_options": dict(tenant.widget_options),
        "stripe_publishable_key": tenant.stripe_publishable_key,
    }


def view(tenant: Tenant) -> TenantView:
    return TenantView(
        id=tenant.id,
        name=tenant.name,
        publishable_key=tenant.publishable_key,
        livemode=tenant.livemode,
        allowed_origins=list(tenant.allowed_origins),
        callback_url=tenant.callback_url,
        legacy_hash_enabled=tenant.legacy_hash_enabled,
        widget_options=dict(tenant.widget_options),
        stripe_publishable_key=tenant.stripe_publishable_key,
        stripe_api_base=tenant.stripe_api_base,
        stripe_secret_key_hint=tenant.stripe_secret_key_hint,
        secret_key_hint=tenant.secret_key_hint,
        stripe_webhook_endpoint_id=tenant.stripe_webhook_endpoint_id,
        stripe_webhook_configured=tenant.stripe_webhook_secret_encrypted is not None,
        created_at=tenant.created_at,
        updated_at=tenant.updated_at,
    )
