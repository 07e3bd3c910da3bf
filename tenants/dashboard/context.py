"""What every dashboard request has: its session, the signed-in user, forms, rendering."""

from __future__ import annotations

import dataclasses
from typing import Any
from urllib.parse import urlencode

from litestar import Request, Response
from litestar.datastructures import FormMultiDict, State
from litestar.di import NamedDependency
from litestar.response import Redirect
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from portal.errors import Forbidden, NotFound, Unauthorized

from ..models import Tenant
from ..service import TenantService
from .models import ROLES, DashboardUser, Membership
from .rendering import render
from .session import COOKIE, CSRF_FIELD, MAX_AGE, DashboardSession, SessionCookie

# Short confirmations shown after a redirect (?done=…); fixed texts, never echoed input.
NOTICES = {
    "saved": "Saved.",
    "created": "Created.",
    "deleted": "Deleted.",
    "signed_out": "You are signed out.",
    "signed_out_everywhere": "You are signed out on every device.",
    "member_added": "Member added. They get access when they sign in with that email.",
    "member_removed": "Member removed.",
    "retried": "The delivery is queued again.",
    "test_sent": "A test event is queued; it appears below in a moment.",
    "refreshed": "The catalog was read again from Stripe.",
    "webhook_registered": "Billport's endpoint is registered in your Stripe account.",
}
RANK = {role: len(ROLES) - i for i, role in enumerate(ROLES)}


class SignInRequired(Unauthorized):
    """Raised by pages that need an account; answered with a redirect to the sign-in page."""


@dataclasses.dataclass
class TenantAccess:
    tenant: Tenant
    role: str

    def can(self, role: str) -> bool:
        return RANK[self.role] >= RANK[role]


@dataclasses.dataclass
class Dashboard:
    request: Request[Any, Any, Any]
    db: AsyncSession
    state: State
    cookie: SessionCookie
    session: DashboardSession
    user: DashboardUser | None
    # Whether the response must (re)write the session cookie.
    changed: bool = False

    @property
    def actor(self) -> str:
        return self.user.email if self.user else "anonymous"

    @property
    def client(self) -> str:
        return self.request.client.host if self.request.client else "unknown"

    def tenants(self) -> TenantService:
        settings = self.state.settings
        return TenantService(
            self.db, self.state.vault, self.state.gateway, settings.public_url, actor=self.actor
        )

    async def rollback(self) -> None:
        """Undo a failed change, keeping the signed-in user loaded for the page that follows."""
        await self.db.rollback()
        if self.user is not None:
            await self.db.refresh(self.user)

    def require_user(self) -> DashboardUser:
        if self.user is None:
            raise SignInRequired("Sign in to continue.", code="sign_in_required")
        return self.user

    async def form(self) -> FormMultiDict:
        """The posted form, once its CSRF token and origin are checked."""
        form = await self.request.form()
        host = f"{self.request.url.scheme}://{self.request.url.netloc}"
        token = form.get(CSRF_FIELD)
        origin = self.request.headers.get("origin")
        if not self.cookie.form_is_genuine(
            self.session, token if isinstance(token, str) else None, origin, host
        ):
            raise Forbidden(
                "This form expired or was sent from another site. Reload the page and try again.",
                code="csrf_failed",
            )
        return form

    async def access(self, tenant_id: str, role: str = "viewer") -> TenantAccess:
        """The tenant, if the user is a member with at least ``role``.

        A tenant the user does not belong to is "not found", whether it exists or not.
        """
        user = self.require_user()
        membership = await self.db.scalar(
            select(Membership).where(
                Membership.tenant_id == tenant_id, Membership.user_id == user.id
            )
        )
        tenant = await self.db.get(Tenant, tenant_id) if membership else None
        if membership is None or tenant is None:
            raise NotFound("There is no such tenant in your account.", code="tenant_not_found")
        access = TenantAccess(tenant, membership.role)
        if not access.can(role):
            raise Forbidden(
                f"Your role ({membership.role}) cannot do this; ask an owner or an admin.",
                code="role_forbidden",
            )
        return access

    async def memberships(self) -> list[tuple[Tenant, str]]:
        user = self.require_user()
        rows = await self.db.execute(
            select(Tenant, Membership.role)
            .join(Membership, Membership.tenant_id == Tenant.id)
            .where(Membership.user_id == user.id)
            .order_by(Tenant.name, Tenant.created_at)
        )
        return [(tenant, role) for tenant, role in rows]

    def sign_in(self, user: DashboardUser) -> None:
        # A new nonce at sign-in: a session fixed before it is worth nothing after.
        self.session = dataclasses.replace(
            DashboardSession.anonymous(), user_id=user.id, generation=user.session_generation
        )
        self.user = user
        self.changed = True

    def sign_out(self) -> None:
        self.session = DashboardSession.anonymous()
        self.user = None
        self.changed = True

    def render(self, template: str, *, status_code: int = 200, **context: Any) -> Response[Any]:
        done = self.request.query_params.get("done")
        response = render(
            template,
            status_code=status_code,
            csrf_token=self.cookie.csrf_token(self.session),
            user=self.user,
            notice=NOTICES.get(done or ""),
            path=self.request.url.path,
            **context,
        )
        return self._with_cookie(response)

    def redirect(self, path: str, done: str | None = None) -> Response[Any]:
        target = f"{path}?{urlencode({'done': done})}" if done else path
        return self._with_cookie(Redirect(target, status_code=303))

    def _with_cookie(self, response: Response[Any]) -> Response[Any]:
        if self.changed:
            response.set_cookie(
                COOKIE,
                self.cookie.dump(self.session),
                max_age=MAX_AGE,
                path="/dashboard",
                httponly=True,
                secure=self.cookie.secure,
                samesite="lax",
            )
        return response


async def provide_dashboard(
    request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession], state: State
) -> Dashboard:
    cookie = SessionCookie(state.settings.secret_key, state.settings.public_url)
    loaded = cookie.load(request.cookies.get(COOKIE))
    session = loaded or DashboardSession.anonymous()
    dashboard = Dashboard(request, db_session, state, cookie, session, None, changed=not loaded)
    if session.user_id:
        user = await db_session.get(DashboardUser, session.user_id)
        if user is None or user.session_generation != session.generation:
            dashboard.sign_out()
        else:
            dashboard.user = user
    return dashboard
