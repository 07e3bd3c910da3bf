"""Running the demo: sandbox, portal (with its worker) and the Acme Notes site in one process.

Ports: the portal on ``--port`` (8000), the site on the next one, the sandbox on the one after.
State lives in ``{BILLPORT_DATA_DIR}/demo/``: the sandbox's accounts, the demo database and
``demo.json`` (the tenant's keys and the dashboard login), so a second run picks up where the
first one stopped. Delete that directory to start over.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import stripe
import uvicorn

from portal.settings import Settings

from .seed import ACCOUNT, ADMIN_EMAIL, SECRET_KEY, DemoState, new_admin_password, seed_catalog
from .site import SiteConfig, create_site

HOST = "127.0.0.1"


class _Server(uvicorn.Server):
    """Three servers share one loop: the demo handles Ctrl-C for all of them at once."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _server(app: Any, port: int) -> _Server:
    return _Server(
        uvicorn.Config(
            app, host=HOST, port=port, log_level="warning", access_log=False, lifespan="on"
        )
    )


def demo_settings(settings: Settings, port: int) -> tuple[Settings, Path]:
    folder = settings.data_dir / "demo"
    folder.mkdir(parents=True, exist_ok=True)
    return (
        settings.with_changes(
            database_url=f"sqlite+aiosqlite:///{folder / 'billport.db'}",
            public_url=f"http://{HOST}:{port}",
            worker_in_process=True,
        ),
        folder,
    )


async def _tenant(settings: Settings, folder: Path, urls: dict[str, str]) -> DemoState:
    """The demo tenant and its dashboard admin: created once, brought up to date each run."""
    from tenants.billing_pages.models import BillingPage
    from tenants.dashboard.accounts import AccountService
    from tenants.models import Tenant
    from tenants.schemas import TenantCreate
    from tenants.service import TenantService

    from ..crypto import Vault
    from ..db import Database
    from ..stripe_gateway import StripeGateway

    database = Database(settings.database_url)
    gateway = StripeGateway(settings)
    vault = Vault(settings.encryption_keys)
    state_file = folder / "demo.json"
    try:
        async with database.sessions() as session:
            service = TenantService(session, vault, gateway, settings.public_url, "billport demo")
            state = DemoState.load(state_file)
            if state is None or await session.get(Tenant, state.tenant_id) is None:
                created = await service.create(
                    TenantCreate(
                        name="Acme Notes",
                        stripe_secret_key=SECRET_KEY,
                        stripe_api_base=urls["sandbox"],
                        allowed_origins=[urls["site"]],
                        callback_url=f"{urls['site']}/callbacks",
                    )
                )
                password = new_admin_password()
                await AccountService(session).create_user(
                    ADMIN_EMAIL, password, tenant_id=created.id, role="owner"
                )
                state = DemoState(
                    tenant_id=created.id,
                    publishable_key=created.publishable_key,
                    secret_key=created.secret_key,
                    token_secret=created.token_secret,
                    callback_secret=created.callback_secret,
                    admin_email=ADMIN_EMAIL,
                    admin_password=password,
                )
                state.save(state_file)
            tenant = await session.get_one(Tenant, state.tenant_id)
            # The ports may differ from the last run: point everything at this run's servers.
            tenant.stripe_api_base = urls["sandbox"]
            tenant.allowed_origins = [urls["site"]]
            tenant.callback_url = f"{urls['site']}/callbacks"
            tenant.callbacks_disabled_at = None
            # Acme Notes' brand colour, on every widget.
            tenant.widget_options = {"theme": {"primary": "#0f766e"}}
            await session.commit()
            await _billing_pages(session, tenant, urls, BillingPage)
            if tenant.stripe_webhook_endpoint_id:
                client = service.stripe_client(tenant)
                await client.v1.webhook_endpoints.update_async(
                    tenant.stripe_webhook_endpoint_id,
                    params={"url": f"{settings.public_url}/stripe/webhooks/{tenant.id}"},
                )
            return state
    finally:
        await gateway.aclose()
        await database.dispose()


# The site's billing pages: pricing (visitors choose, then sign up), signup (a 14-day trial
# with a card), account (the customer portal with a retention offer).
PAGES: dict[str, tuple[Any, dict[str, Any]]] = {
    "pricing": ("plan-picker", {"service": "notes", "highlight": "notes:pro"}),
    "signup": ("signup", {"service": "notes", "trial_days": 14, "require_card": True}),
    "account": (
        "customer-portal",
        {
            "proration_behavior": "always_invoice",
            "retention_message": "Stay with Acme Notes: 20% off your next three months.",
        },
    ),
}


async def _billing_pages(session: Any, tenant: Any, urls: dict[str, str], model: Any) -> None:
    from sqlalchemy import select

    from tenants.billing_pages.schemas import BillingPageCreate, BillingPageUpdate
    from tenants.billing_pages.service import BillingPageService

    pages = BillingPageService(session, "billport demo")
    existing = {
        page.name: page
        for page in await session.scalars(select(model).where(model.tenant_id == tenant.id))
    }
    for name, (widget, options) in PAGES.items():
        if name == "pricing":
            options = {**options, "cta_url": f"{urls['site']}/signup"}
        page = existing.get(name)
        if page is None:
            await pages.create(tenant, BillingPageCreate(widget=widget, name=name, options=options))
        elif page.options != options:
            await pages.update(tenant, page.id, BillingPageUpdate(options=options))


async def _page_ids(settings: Settings, tenant_id: str) -> dict[str, str]:
    from sqlalchemy import select

    from tenants.billing_pages.models import BillingPage

    from ..db import Database

    database = Database(settings.database_url)
    try:
        async with database.sessions() as session:
            rows = await session.scalars(
                select(BillingPage).where(BillingPage.tenant_id == tenant_id)
            )
            return {page.name: page.id for page in rows}
    finally:
        await database.dispose()


def _seed_stripe(sandbox_url: str) -> None:
    client = stripe.StripeClient(SECRET_KEY, base_addresses={"api": sandbox_url})
    seed_catalog(client)


async def run(settings: Settings, port: int, ready: asyncio.Event | None = None) -> None:
    from portal.sandbox import create_sandbox_app

    from ..app import create_app
    from ..migrate import upgrade

    settings, folder = demo_settings(settings, port)
    urls = {
        "portal": f"http://{HOST}:{port}",
        # Another host name than the portal's: the site is a different site, as in real life.
        "site": f"http://localhost:{port + 1}",
        "sandbox": f"http://{HOST}:{port + 2}",
    }
    sandbox = _server(create_sandbox_app(folder / "sandbox.json"), port + 2)
    servers = [sandbox]
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()

    def stop() -> None:
        stopping.set()
        for server in servers:
            server.should_exit = True

    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop)

    tasks = [asyncio.create_task(sandbox.serve())]
    await _started(sandbox, tasks[0])
    # The Stripe SDK is synchronous; the sandbox answers from this loop meanwhile.
    await asyncio.to_thread(_seed_stripe, urls["sandbox"])
    await asyncio.to_thread(upgrade, settings.database_url)
    state = await _tenant(settings, folder, urls)
    pages = await _page_ids(settings, state.tenant_id)
    site = SiteConfig(
        portal_url=urls["portal"],
        sandbox_url=urls["sandbox"],
        publishable_key=state.publishable_key,
        token_secret=state.token_secret,
        callback_secret=state.callback_secret,
        pages=pages,
    )
    portal = _server(create_app(settings), port)
    website = _server(create_site(site), port + 1)
    servers += [portal, website]
    for server in (portal, website):
        task = asyncio.create_task(server.serve())
        tasks.append(task)
        await _started(server, task)
    _banner(urls, state, folder)
    if ready is not None:
        ready.set()
    await asyncio.gather(*tasks)


async def _started(server: _Server, task: asyncio.Task[None]) -> None:
    while not server.started:
        if task.done():
            task.result()
            raise SystemExit(
                f"billport: could not start a server on port {server.config.port}; "
                "is it in use? Choose other ports with --port."
            )
        await asyncio.sleep(0.05)


def _banner(urls: dict[str, str], state: DemoState, folder: Path) -> None:
    lines = [
        "",
        "Billport demo is running. Ctrl-C stops everything.",
        "",
        f"  Acme Notes, a sample SaaS site   {urls['site']}",
        f"  Billport dashboard               {urls['portal']}/dashboard/",
        f"      sign in as {state.admin_email} / {state.admin_password}",
        f"  Stripe sandbox                   {urls['sandbox']}   (key sk_test_{ACCOUNT})",
        "",
        f"State is kept in {folder}; delete it to start over.",
        "",
    ]
    print("\n".join(lines), flush=True)


def main(settings: Settings, port: int) -> int:
    try:
        asyncio.run(run(settings, port))
    except KeyboardInterrupt:
        pass
    print("Billport demo stopped.", file=sys.stderr, flush=True)
    return 0
