"""Opening a widget: tenant by key, parent origin, user identity, customer, widget session."""

from __future__ import annotations

from dataclasses import dataclass

from portal.db import release_connection
from portal.errors import BillportError, Forbidden, NotFound, Unauthorized, ValidationFailed
from portal.identity.customers import resolve_customer
from portal.identity.legacy import verify_legacy_hash
from portal.identity.models import UserSession
from portal.identity.sessions import TOKEN_PREFIX, find_session
from portal.identity.tokens import valid_customer_id, valid_email, verify_user_token
from portal.identity.widget_session import WidgetSession, WidgetSessionSigner
from tenants.billing_pages.models import WIDGETS, BillingPage
from tenants.models import Tenant
from tenants.service import TenantService, normalize_origin

# Widgets a visitor may open without saying who they are.
ANONYMOUS_WIDGETS = {"plan-picker", "signup"}


@dataclass(frozen=True)
class WidgetRequest:
    widget: str
    key: str
    token: str | None = None
    parent_origin: str | None = None
    billing_page: str | None = None
    # Billflow's identity: email or customer_id, plus hash.
    email: str | None = None
    customer_id: str | None = None
    hash: str | None = None


@dataclass(frozen=True)
class OpenedWidget:
    tenant: Tenant
    session: WidgetSession
    signed_session: str
    billing_page: BillingPage | None


class WidgetRefused(BillportError):
    """A refusal after the tenant and the framing page were recognised."""

    def __init__(self, error: BillportError, tenant: Tenant, parent_origin: str) -> None:
        super().__init__(
            error.message,
            code=error.code,
            status_code=error.status_code,
            param=error.param,
            retryable=error.retryable,
        )
        self.tenant = tenant
        self.parent_origin = parent_origin


@dataclass(frozen=True)
class Identity:
    customer_id: str | None = None
    email: str | None = None
    user_id: str | None = None

    @property
    def anonymous(self) -> bool:
        return self.customer_id is None and self.email is None


class WidgetOpener:
    def __init__(self, tenants: TenantService, signer: WidgetSessionSigner) -> None:
        self.tenants = tenants
        self.signer = signer

    async def open(self, request: WidgetRequest) -> OpenedWidget:
        if request.widget not in WIDGETS:
            raise NotFound(f"There is no widget called {request.widget!r}.", code="unknown_widget")
        tenant = await self.tenants.by_publishable_key(request.key or "")
        parent_origin = self._parent_origin(tenant, request.parent_origin)
        try:
            return await self._open(tenant, parent_origin, request)
        except BillportError as error:
            # The page framing us is known to be the tenant's: its error page may talk to it.
            raise WidgetRefused(error, tenant, parent_origin) from error

    async def _open(
        self, tenant: Tenant, parent_origin: str, request: WidgetRequest
    ) -> OpenedWidget:
        page = await self._billing_page(tenant, request)
        identity = await self._identity(tenant, request)
        if identity.anonymous and request.widget not in ANONYMOUS_WIDGETS:
            raise Unauthorized(
                f"The {request.widget} widget needs to know who the user is: pass a user token.",
                code="identity_required",
            )
        customer_id = None
        if not identity.anonymous:
            await release_connection(self.tenants.session)
            customer_id = await resolve_customer(
                self.tenants.stripe_client(tenant),
                customer_id=identity.customer_id,
                email=identity.email,
            )
        session = WidgetSession(
            tenant_id=tenant.id,
            widget=request.widget,
            parent_origin=parent_origin,
            customer_id=customer_id,
            email=identity.email,
            user_id=identity.user_id,
            billing_page_id=page.id if page else None,
        )
        return OpenedWidget(tenant, session, self.signer.sign(session), page)

    @staticmethod
    def _parent_origin(tenant: Tenant, origin: str | None) -> str:
        """The page framing the widget, where its events go; must be an allowed origin.

        Without one (a page framing the URL directly) the widget works but sends no events
        to the page; the browser still enforces frame-ancestors either way.
        """
        if not origin:
            return ""
        try:
            normalized = normalize_origin(origin)
        except BillportError:
            normalized = None
        if normalized is None or normalized not in tenant.allowed_origins:
            raise Forbidden(
                f"{origin} is not an allowed origin of this tenant; add it to allowed_origins.",
                code="origin_not_allowed",
            )
        return normalized

    async def _billing_page(self, tenant: Tenant, request: WidgetRequest) -> BillingPage | None:
        if not request.billing_page:
            return None
        page = await self.tenants.session.get(BillingPage, request.billing_page)
        if page is None or page.tenant_id != tenant.id:
            raise NotFound(
                f"This tenant has no billing page {request.billing_page}.",
                code="billing_page_not_found",
            )
        if page.widget != request.widget:
            raise ValidationFailed(
                f"Billing page {page.id} is a {page.widget} page, not {request.widget}.",
                code="billing_page_widget_mismatch",
            )
        return page

    async def _identity(self, tenant: Tenant, request: WidgetRequest) -> Identity:
        if request.token:
            if request.token.startswith(TOKEN_PREFIX):
                row = await self._session_token(tenant, request.token)
                return Identity(customer_id=row.customer_id, email=row.email)
            claims = verify_user_token(
                request.token,
                publishable_key=tenant.publishable_key,
                token_secret=self.tenants.token_secrets(tenant),
            )
            return Identity(claims.customer_id, claims.email, claims.user_id)
        if request.hash is not None or request.email or request.customer_id:
            return self._legacy(tenant, request)
        return Identity()

    async def _session_token(self, tenant: Tenant, token: str) -> UserSession:
        row = await find_session(self.tenants.session, token)
        if row.tenant_id != tenant.id:
            raise Forbidden(
                "This session token belongs to another Billport tenant.",
                code="session_wrong_tenant",
            )
        return row

    def _legacy(self, tenant: Tenant, request: WidgetRequest) -> Identity:
        if (request.email is None) == (request.customer_id is None) or not request.hash:
            raise Unauthorized(
                "The Billflow identity needs email or customer_id, and hash.",
                code="legacy_identity_incomplete",
            )
        value = request.email or request.customer_id or ""
        verify_legacy_hash(
            value,
            request.hash,
            self.tenants.token_secrets(tenant),
            enabled=tenant.legacy_hash_enabled,
        )
        if request.email is not None and not valid_email(request.email):
            raise Unauthorized("The email is not a valid address.", code="invalid_email")
        if request.customer_id is not None and not valid_customer_id(request.customer_id):
            raise Unauthorized(
                "customer_id must be a Stripe id (cus_…).", code="invalid_customer_id"
            )
        return Identity(customer_id=request.customer_id, email=request.email)
