"""Tenants in the dashboard: create, overview, settings, Stripe, keys, team, audit log.

Every change goes through the same services as the tenant API, so the two never disagree.
"""

from __future__ import annotations

import json
from typing import Any

import msgspec
from litestar import Controller, Response, get, post
from litestar.datastructures import FormMultiDict
from litestar.di import NamedDependency
from litestar.params import FromPath
from sqlalchemy import select

from portal.errors import BillportError, ValidationFailed
from portal.stripe_intake.models import StripeEvent

from ..audit.service import entries
from ..callbacks.service import CallbackService
from ..keys import DEFAULT_OVERLAP, ROTATABLE
from ..schemas import TenantCreate, TenantUpdate
from .auth_routes import form_errors
from .context import Dashboard
from .models import ROLES
from .onboarding import checklist, delivery_counts
from .team import TeamService

OVERLAPS = [
    (0, "End it now"),
    (3600, "1 hour"),
    (DEFAULT_OVERLAP, "1 day"),
    (7 * 86_400, "7 days"),
]
KEY_LABELS = {
    "secret_key": "Secret API key",
    "token_secret": "Token secret",
    "callback_secret": "Callback secret",
}


def _text(form: FormMultiDict, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.replace(",", "\n").splitlines() if line.strip()]


def settings_patch(form: FormMultiDict) -> TenantUpdate:
    """The settings form as the tenant API's PATCH body."""
    options_text = _text(form, "widget_options") or "{}"
    try:
        options = json.loads(options_text)
    except json.JSONDecodeError as exc:
        raise ValidationFailed(
            f"Widget options must be a JSON object ({exc.msg} at line {exc.lineno}).",
            param="widget_options",
        ) from None
    if not isinstance(options, dict):
        raise ValidationFailed("Widget options must be a JSON object.", param="widget_options")
    return msgspec.convert(
        {
            "name": _text(form, "name"),
            "allowed_origins": _lines(_text(form, "allowed_origins")),
            "callback_url": _text(form, "callback_url") or None,
            "legacy_hash_enabled": form.get("legacy_hash_enabled") == "on",
            "widget_options": options,
        },
        TenantUpdate,
    )


class TenantDashboardController(Controller):
    path = "/dashboard"
    include_in_schema = False

    @get("/tenants")
    async def tenants(self, dashboard: NamedDependency[Dashboard]) -> Response[Any]:
        memberships = await dashboard.memberships()
        if not memberships:
            return dashboard.redirect("/dashboard/tenants/new")
        # One row per product name: its test-mode and live-mode tenants side by side.
        products: dict[str, dict[str, list[tuple[Any, str]]]] = {}
        for tenant, role in memberships:
            modes = products.setdefault(tenant.name, {"test": [], "live": []})
            modes["live" if tenant.livemode else "test"].append((tenant, role))
        return dashboard.render("tenants.html", products=products, tenant=None)

    @get("/tenants/new")
    async def new_tenant_page(self, dashboard: NamedDependency[Dashboard]) -> Response[Any]:
        dashboard.require_user()
        # "Add live mode" on the tenants page opens this form for the same product name.
        name = dashboard.request.query_params.get("name", "")[:200]
        mode = "live" if dashboard.request.query_params.get("mode") == "live" else "test"
        return dashboard.render(
            "tenant_new.html", values={"name": name}, errors={}, tenant=None, mode=mode
        )

    @post("/tenants/new")
    async def create_tenant(self, dashboard: NamedDependency[Dashboard]) -> Response[Any]:
        user = dashboard.require_user()
        form = await dashboard.form()
        values = {
            name: _text(form, name)
            for name in (
                "name",
                "stripe_secret_key",
                "stripe_publishable_key",
                "stripe_api_base",
                "allowed_origins",
                "callback_url",
            )
        }
        try:
            data = msgspec.convert(
                {
                    "name": values["name"] or " ",
                    "stripe_secret_key": values["stripe_secret_key"] or " ",
                    "stripe_publishable_key": values["stripe_publishable_key"] or None,
                    "stripe_api_base": values["stripe_api_base"] or None,
                    "allowed_origins": _lines(values["allowed_origins"]),
                    "callback_url": values["callback_url"] or None,
                },
                TenantCreate,
            )
            created = await dashboard.tenants().create(data, owner=user)
        except msgspec.ValidationError as exc:
            return self._new_again(dashboard, values, {"_": str(exc)})
        except BillportError as error:
            return self._new_again(dashboard, values, form_errors(error), error.status_code)
        tenant = (await dashboard.access(created.id)).tenant
        return dashboard.render(
            "secrets.html",
            tenant=tenant,
            heading="Your tenant is ready",
            secrets=[
                (
                    "Secret API key",
                    created.secret_key,
                    "Authenticates your server's calls to the tenant API.",
                ),
                (
                    "Token secret",
                    created.token_secret,
                    "Signs the user tokens your server mints for widgets.",
                ),
                (
                    "Callback secret",
                    created.callback_secret,
                    "Verifies the callbacks Billport sends you.",
                ),
            ],
            next_url=f"/dashboard/t/{tenant.id}",
        )

    @staticmethod
    def _new_again(
        dashboard: Dashboard, values: dict[str, str], errors: dict[str, str], status: int = 422
    ) -> Response[Any]:
        live = values.get("stripe_secret_key", "").startswith(("sk_live_", "rk_live_"))
        mode = "live" if live else "test"
        values = {**values, "stripe_secret_key": ""}
        return dashboard.render(
            "tenant_new.html",
            status_code=status,
            values=values,
            errors=errors,
            tenant=None,
            mode=mode,
        )

    @get("/t/{tenant_id:str}")
    async def overview(
        self, tenant_id: FromPath[str], dashboard: NamedDependency[Dashboard]
    ) -> Response[Any]:
        access = await dashboard.access(tenant_id)
        steps = await checklist(dashboard.db, access.tenant)
        return dashboard.render(
            "overview.html",
            tenant=access.tenant,
            access=access,
            steps=steps,
            done=sum(step.done for step in steps),
            counts=await delivery_counts(dashboard.db, access.tenant),
            public_url=dashboard.state.settings.public_url,
        )

    @get("/t/{tenant_id:str}/settings")
    async def settings_page(
        self, tenant_id: FromPath[str], dashboard: NamedDependency[Dashboard]
    ) -> Response[Any]:
        access = await dashboard.access(tenant_id)
        return self._settings(dashboard, access, None, {})

    @post("/t/{tenant_id:str}/settings")
    async def save_settings(
        self, tenant_id: FromPath[str], dashboard: NamedDependency[Dashboard]
    ) -> Response[Any]:
        access = await dashboard.access(tenant_id, "admin")
        form = await dashboard.form()
        try:
            await dashboard.tenants().update(access.tenant, settings_patch(form))
        except msgspec.ValidationError as exc:
            return self._settings(dashboard, access, form, {"_": str(exc)})
        except BillportError as error:
            await dashboard.rollback()
            access = await dashboard.access(tenant_id, "admin")
            return self._settings(dashboard, access, form, form_errors(error), error.status_code)
        return dashboard.redirect(f"/dashboard/t/{tenant_id}/settings", done="saved")

    @staticmethod
    def _settings(
        dashboard: Dashboard,
        access: Any,
        form: FormMultiDict | None,
        errors: dict[str, str],
        status: int = 422,
    ) -> Response[Any]:
        tenant = access.tenant
        if form is None:
            values = {
                "name": tenant.name,
                "allowed_origins": "\n".join(tenant.allowed_origins),
                "callback_url": tenant.callback_url or "",
                "legacy_hash_enabled": tenant.legacy_hash_enabled,
                "widget_options": json.dumps(tenant.widget_options or {}, indent=2),
            }
        else:
            values = {
                name: _text(form, name)
                for name in ("name", "allowed_origins", "callback_url", "widget_options")
            }
            values["legacy_hash_enabled"] = form.get("legacy_hash_enabled") == "on"
        return dashboard.render(
            "settings.html",
            status_code=status if errors else 200,
            tenant=tenant,
            access=access,
            values=values,
            errors=errors,
        )

    @get("/t/{tenant_id:str}/stripe")
    async def stripe_page(
        self, tenant_id: FromPath[str], dashboard: NamedDependency[Dashboard]
    ) -> Response[Any]:
        access = await dashboard.access(tenant_id)
        return await self._stripe(dashboard, access, {})

    @post("/t/{tenant_id:str}/stripe")
    async def save_stripe(
        self, tenant_id: FromPath[str], dashboard: NamedDependency[Dashboard]
    ) -> Response[Any]:
        access = await dashboard.access(tenant_id, "admin")
        form = await dashboard.form()
        service = dashboard.tenants()
        action = _text(form, "action")
        try:
            if action == "register":
                await service.register_intake(access.tenant)
                return dashboard.redirect(
                    f"/dashboard/t/{tenant_id}/stripe", done="webhook_registered"
                )
            patch: dict[str, Any] = {}
            if action == "keys":
                if _text(form, "stripe_secret_key"):
                    patch["stripe_secret_key"] = _text(form, "stripe_secret_key")
                patch["stripe_publishable_key"] = _text(form, "stripe_publishable_key") or None
            elif action == "webhook_secret":
                patch["stripe_webhook_secret"] = _text(form, "stripe_webhook_secret") or " "
            await service.update(access.tenant, msgspec.convert(patch, TenantUpdate))
        except msgspec.ValidationError as exc:
            return await self._stripe(dashboard, access, {"_": str(exc)})
        except BillportError as error:
            await dashboard.rollback()
            access = await dashboard.access(tenant_id, "admin")
            return await self._stripe(dashboard, access, form_errors(error), error.status_code)
        return dashboard.redirect(f"/dashboard/t/{tenant_id}/stripe", done="saved")

    @staticmethod
    async def _stripe(
        dashboard: Dashboard, access: Any, errors: dict[str, str], status: int = 422
    ) -> Response[Any]:
        tenant = access.tenant
        intake = await CallbackService(dashboard.db).stripe_intake(tenant)
        recent = await dashboard.db.scalars(
            select(StripeEvent)
            .where(StripeEvent.tenant_id == tenant.id)
            .order_by(StripeEvent.id.desc())
            .limit(10)
        )
        return dashboard.render(
            "stripe.html",
            status_code=status if errors else 200,
            tenant=tenant,
            access=access,
            errors=errors,
            intake=intake.counts,
            last_event=intake.last_received_at,
            recent=list(recent),
            endpoint_url=f"{dashboard.state.settings.public_url}/stripe/webhooks/{tenant.id}",
        )

    @get("/t/{tenant_id:str}/keys")
    async def keys_page(
        self, tenant_id: FromPath[str], dashboard: NamedDependency[Dashboard]
    ) -> Response[Any]:
        access = await dashboard.access(tenant_id)
        return dashboard.render(
            "keys.html",
            tenant=access.tenant,
            access=access,
            keys=KEY_LABELS,
            overlaps=OVERLAPS,
            default_overlap=DEFAULT_OVERLAP,
        )

    @post("/t/{tenant_id:str}/keys/{name:str}/rotate")
    async def rotate_key(
        self, tenant_id: FromPath[str], name: FromPath[str], dashboard: NamedDependency[Dashboard]
    ) -> Response[Any]:
        access = await dashboard.access(tenant_id, "admin")
        form = await dashboard.form()
        if name not in ROTATABLE:
            raise ValidationFailed("There is no such key.", code="unknown_key")
        try:
            overlap = int(_text(form, "overlap_seconds") or DEFAULT_OVERLAP)
        except ValueError:
            overlap = DEFAULT_OVERLAP
        overlap = max(0, min(overlap, OVERLAPS[-1][0]))
        rotated = await dashboard.tenants().rotate_key(access.tenant, name, overlap)
        until = rotated.previous_valid_until
        return dashboard.render(
            "secrets.html",
            tenant=access.tenant,
            heading=f"New {KEY_LABELS[name].lower()}",
            secrets=[
                (
                    KEY_LABELS[name],
                    rotated.secret,
                    f"The previous one works until {until:%Y-%m-%d %H:%M UTC}."
                    if until
                    else "The previous one no longer works.",
                )
            ],
            next_url=f"/dashboard/t/{tenant_id}/keys",
        )

    @get("/t/{tenant_id:str}/team")
    async def team_page(
        self, tenant_id: FromPath[str], dashboard: NamedDependency[Dashboard]
    ) -> Response[Any]:
        access = await dashboard.access(tenant_id)
        return await self._team(dashboard, access, {})

    @post("/t/{tenant_id:str}/team")
    async def change_team(
        self, tenant_id: FromPath[str], dashboard: NamedDependency[Dashboard]
    ) -> Response[Any]:
        access = await dashboard.access(tenant_id, "admin")
        form = await dashboard.form()
        team = TeamService(dashboard.db, dashboard.actor)
        action = _text(form, "action")
        try:
            member_id = int(_text(form, "member_id") or 0)
        except ValueError:
            member_id = 0
        try:
            if action == "add":
                await team.add(access, _text(form, "email"), _text(form, "role"))
                done = "member_added"
            elif action == "role":
                await team.change_role(access, member_id, _text(form, "role"))
                done = "saved"
            elif action == "remove":
                await team.remove(access, member_id)
                done = "member_removed"
            else:
                raise ValidationFailed("Unknown action.")
        except BillportError as error:
            await dashboard.rollback()
            access = await dashboard.access(tenant_id, "admin")
            return await self._team(dashboard, access, form_errors(error), error.status_code)
        return dashboard.redirect(f"/dashboard/t/{tenant_id}/team", done=done)

    @staticmethod
    async def _team(
        dashboard: Dashboard, access: Any, errors: dict[str, str], status: int = 422
    ) -> Response[Any]:
        members = await TeamService(dashboard.db, dashboard.actor).members(access.tenant)
        return dashboard.render(
            "team.html",
            status_code=status if errors else 200,
            tenant=access.tenant,
            access=access,
            members=members,
            roles=ROLES,
            errors=errors,
        )

    @get("/t/{tenant_id:str}/audit")
    async def audit_page(
        self, tenant_id: FromPath[str], dashboard: NamedDependency[Dashboard]
    ) -> Response[Any]:
        access = await dashboard.access(tenant_id)
        before = dashboard.request.query_params.get("before")
        rows = await entries(
            dashboard.db, access.tenant.id, 50, int(before) if before and before.isdigit() else None
        )
        return dashboard.render("audit.html", tenant=access.tenant, access=access, entries=rows)
