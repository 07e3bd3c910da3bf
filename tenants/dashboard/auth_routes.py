"""Signing up, in and out of the dashboard."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Response, get, post
from litestar.datastructures import State
from litestar.di import NamedDependency

from portal.errors import BillportError

from .accounts import AccountService
from .context import Dashboard
from .sso import sso_provider


def safe_next(value: Any) -> str:
    """Where to go after signing in: a dashboard path only, never another site."""
    if isinstance(value, str) and value.startswith("/dashboard/") and "//" not in value:
        if "\\" not in value and len(value) < 500:
            return value
    return "/dashboard/"


def form_errors(error: BillportError) -> dict[str, str]:
    return {error.param or "_": error.message}


def sso_name(state: State) -> str | None:
    sso = sso_provider(state)
    return sso.name if sso is not None else None


class AuthController(Controller):
    path = "/dashboard"
    include_in_schema = False

    @get("/")
    async def home(self, dashboard: NamedDependency[Dashboard]) -> Response[Any]:
        if dashboard.user is None:
            return dashboard.redirect("/dashboard/login")
        return dashboard.redirect("/dashboard/tenants")

    @get("/login")
    async def login_page(
        self, dashboard: NamedDependency[Dashboard], state: State
    ) -> Response[Any]:
        next_path = safe_next(dashboard.request.query_params.get("next"))
        if dashboard.user is not None:
            return dashboard.redirect(next_path)
        return dashboard.render(
            "login.html", next=next_path, email="", errors={}, sso=sso_name(state)
        )

    @post("/login")
    async def login(self, dashboard: NamedDependency[Dashboard], state: State) -> Response[Any]:
        form = await dashboard.form()
        email = str(form.get("email") or "")
        next_path = safe_next(form.get("next"))
        try:
            user = await AccountService(dashboard.db).sign_in(
                email, str(form.get("password") or ""), state.sign_in_limits, dashboard.client
            )
        except BillportError as error:
            return dashboard.render(
                "login.html",
                status_code=error.status_code,
                next=next_path,
                email=email,
                errors={"_": error.message},
                sso=sso_name(state),
            )
        dashboard.sign_in(user)
        return dashboard.redirect(next_path)

    @get("/signup")
    async def signup_page(
        self, dashboard: NamedDependency[Dashboard], state: State
    ) -> Response[Any]:
        if dashboard.user is not None:
            return dashboard.redirect("/dashboard/tenants")
        return dashboard.render("signup.html", email="", errors={}, sso=sso_name(state))

    @post("/signup")
    async def signup(self, dashboard: NamedDependency[Dashboard], state: State) -> Response[Any]:
        form = await dashboard.form()
        email = str(form.get("email") or "")
        try:
            user = await AccountService(dashboard.db).sign_up(
                email, str(form.get("password") or "")
            )
        except BillportError as error:
            return dashboard.render(
                "signup.html",
                status_code=error.status_code,
                email=email,
                errors=form_errors(error),
                sso=sso_name(state),
            )
        dashboard.sign_in(user)
        return dashboard.redirect("/dashboard/tenants")

    @post("/logout")
    async def logout(self, dashboard: NamedDependency[Dashboard]) -> Response[Any]:
        await dashboard.form()
        dashboard.sign_out()
        return dashboard.redirect("/dashboard/login", done="signed_out")

    @post("/logout-everywhere")
    async def logout_everywhere(self, dashboard: NamedDependency[Dashboard]) -> Response[Any]:
        await dashboard.form()
        user = dashboard.require_user()
        await AccountService(dashboard.db).sign_out_everywhere(user)
        dashboard.sign_out()
        return dashboard.redirect("/dashboard/login", done="signed_out_everywhere")
