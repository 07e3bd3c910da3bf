"""Signing in to the dashboard through the configured OpenID Connect provider."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Response, get
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.response import Redirect

from portal.errors import NotFound

from .accounts import AccountService
from .auth_routes import safe_next
from .context import Dashboard
from .sso import FLOW_COOKIE, OidcProvider, sso_provider


def _configured(state: State) -> OidcProvider:
    provider = sso_provider(state)
    if provider is None:
        raise NotFound("There is no such page in the dashboard.")
    return provider


class SsoController(Controller):
    path = "/dashboard/sso"
    include_in_schema = False

    @get("/login")
    async def login(self, dashboard: NamedDependency[Dashboard], state: State) -> Response[Any]:
        provider = _configured(state)
        next_path = safe_next(dashboard.request.query_params.get("next"))
        if dashboard.user is not None:
            return dashboard.redirect(next_path)
        url, flow = await provider.start(next_path)
        response: Response[Any] = Redirect(url, status_code=303)
        provider.cookie.set(response, flow)
        return response

    @get("/callback")
    async def callback(self, dashboard: NamedDependency[Dashboard], state: State) -> Response[Any]:
        provider = _configured(state)
        request = dashboard.request
        flow = provider.cookie.load(request.cookies.get(FLOW_COOKIE))
        identity = await provider.finish(flow, dict(request.query_params))
        user = await AccountService(dashboard.db).single_sign_on(
            identity.subject, identity.email, identity.email_verified
        )
        dashboard.sign_in(user)
        response = dashboard.redirect(safe_next(identity.next_path))
        provider.cookie.clear(response)
        return response
