"""Issuing and revoking session tokens for a tenant's users."""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit

from portal.errors import ValidationFailed
from portal.identity.customers import resolve_customer
from portal.identity.sessions import create_session, revoke_session
from portal.identity.tokens import valid_customer_id, valid_email

from ..models import Tenant
from ..service import TenantService, normalize_origin
from .schemas import SessionCreate, SessionCreated, SessionRevoked


def check_return_url(tenant: Tenant, url: str | None) -> str | None:
    """A return link must lead back to one of the tenant's own origins (no open redirect)."""
    if not url:
        return None
    try:
        parts = urlsplit(url)
        origin: str | None = normalize_origin(f"{parts.scheme}://{parts.netloc}")
    except (ValidationFailed, ValueError):
        origin = None
    # Browsers and urlsplit both drop some control characters; none belongs in a link.
    if not url.isprintable():
        origin = None
    if origin is None or origin not in tenant.allowed_origins:
        raise ValidationFailed(
            "return_url must be on one of the tenant's allowed origins.",
            code="invalid_return_url",
            param="return_url",
        )
    return url


async def issue_session(
    tenants: TenantService, tenant: Tenant, data: SessionCreate, public_url: str
) -> SessionCreated:
    if (data.customer_id is None) == (data.email is None):
        raise ValidationFailed("Give exactly one of customer_id or email.", param="customer_id")
    if data.customer_id is not None and not valid_customer_id(data.customer_id):
        raise ValidationFailed(
            "customer_id must be a Stripe customer id (cus_…).", param="customer_id"
        )
    if data.email is not None and not valid_email(data.email):
        raise ValidationFailed("email is not a valid address.", param="email")
    return_url = check_return_url(tenant, data.return_url)
    if data.customer_id is not None:
        await resolve_customer(
            tenants.stripe_client(tenant), customer_id=data.customer_id, email=None
        )
    row, token = await create_session(
        tenants.session,
        tenant_id=tenant.id,
        customer_id=data.customer_id,
        email=data.email,
        ttl_seconds=data.ttl_seconds,
        return_url=return_url,
    )
    return SessionCreated(
        id=row.id,
        token=token,
        expires_at=row.expires_at,
        url=f"{public_url}/portal?{urlencode({'session': token})}",
        customer_id=data.customer_id,
        email=data.email,
    )


async def end_session(tenants: TenantService, tenant: Tenant, session_id: str) -> SessionRevoked:
    row = await revoke_session(tenants.session, tenant_id=tenant.id, session_id=session_id)
    return SessionRevoked(id=row.id, revoked=row.revoked_at is not None)
