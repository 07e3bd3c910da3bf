"""The ``billport`` command."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

from .errors import BillportError
from .settings import ConfigurationError, Settings, load_settings


def _settings() -> Settings:
    try:
        return load_settings()
    except ConfigurationError as exc:
        raise SystemExit(f"billport: configuration error: {exc}") from None


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from .logs import configure_logging
    from .migrate import upgrade

    if not args.no_worker:
        # Read by each server process's settings: deliver callbacks in-process.
        os.environ["BILLPORT_WORKER_IN_PROCESS"] = "1"
    settings = _settings()
    configure_logging(settings.log_level)
    upgrade(settings.database_url)
    print(f"Billport portal on http://{args.host}:{args.port}", file=sys.stderr, flush=True)
    uvicorn.run(
        "portal.app:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_config=None,
        access_log=False,
        proxy_headers=True,
        forwarded_allow_ips=args.forwarded_allow_ips,
    )
    return 0


def _worker(args: argparse.Namespace) -> int:
    import signal

    from .callbacks.worker import CallbackWorker
    from .crypto import Vault
    from .db import Database
    from .logs import configure_logging
    from .migrate import upgrade
    from .stripe_gateway import StripeGateway
    from .stripe_intake.processor import StripeEventProcessor

    settings = _settings()
    configure_logging(settings.log_level)
    upgrade(settings.database_url)

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        database = Database(settings.database_url)
        gateway = StripeGateway(settings)
        vault = Vault(settings.encryption_keys)
        processing = StripeEventProcessor(database, vault, gateway)
        try:
            worker = CallbackWorker(
                database,
                vault,
                extra=[processing.run_once],
                lease=settings.callback_lease_seconds,
            )
            await worker.run(stop)
        finally:
            await gateway.aclose()
            await database.dispose()

    print("Billport worker running (callbacks, Stripe events)", file=sys.stderr, flush=True)
    asyncio.run(run())
    return 0


def _db_upgrade(args: argparse.Namespace) -> int:
    from .migrate import upgrade

    settings = _settings()
    upgrade(settings.database_url, args.revision)
    print(f"database at {args.revision}", file=sys.stderr)
    return 0


def _sandbox(args: argparse.Namespace) -> int:
    import uvicorn

    from portal.sandbox import create_sandbox_app

    app = create_sandbox_app(args.state)
    print(f"Stripe sandbox on http://{args.host}:{args.port} (keys: sk_test_<name>)", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", lifespan="on")
    return 0


async def _with_tenant_service(settings: Settings, action: Any) -> Any:
    from tenants.service import TenantService

    from .crypto import Vault
    from .db import Database
    from .stripe_gateway import StripeGateway

    database = Database(settings.database_url)
    gateway = StripeGateway(settings)
    try:
        async with database.sessions() as session:
            vault = Vault(settings.encryption_keys)
            return await action(TenantService(session, vault, gateway, settings.public_url))
    finally:
        await gateway.aclose()
        await database.dispose()


def _fail(exc: BillportError, as_json: bool) -> int:
    if as_json:
        print(json.dumps(exc.body()), file=sys.stderr)
    else:
        print(f"billport: {exc.message}", file=sys.stderr)
    return 1


def _tenants_create(args: argparse.Namespace) -> int:
    from tenants.schemas import TenantCreate

    from .migrate import upgrade

    settings = _settings()
    upgrade(settings.database_url)
    data = TenantCreate(
        name=args.name,
        stripe_secret_key=args.stripe_secret_key,
        stripe_publishable_key=args.stripe_publishable_key,
        stripe_api_base=args.stripe_api_base,
        allowed_origins=args.allowed_origin or [],
        callback_url=args.callback_url,
    )
    try:
        created = asyncio.run(_with_tenant_service(settings, lambda svc: svc.create(data)))
    except BillportError as exc:
        return _fail(exc, args.json)
    if args.json:
        import msgspec

        print(msgspec.json.encode(created).decode())
    else:
        print(f"Tenant {created.id} ({created.name}) registered, livemode={created.livemode}")
        print(f"  publishable key  {created.publishable_key}")
        print(f"  secret API key   {created.secret_key}   (shown once)")
        print(f"  token secret     {created.token_secret}   (shown once)")
        print(f"  callback secret  {created.callback_secret}")
    return 0


def _tenants_list(args: argparse.Namespace) -> int:
    from tenants.service import view

    from .migrate import upgrade

    settings = _settings()
    upgrade(settings.database_url)

    async def rows(service: Any) -> list[Any]:
        return [view(tenant) for tenant in await service.list()]

    tenants = asyncio.run(_with_tenant_service(settings, rows))
    if args.json:
        import msgspec

        for tenant in tenants:
            print(msgspec.json.encode(tenant).decode())
    else:
        for tenant in tenants:
            mode = "live" if tenant.livemode else "test"
            origins = ",".join(tenant.allowed_origins) or "-"
            print(f"{tenant.id}\t{tenant.name}\t{tenant.publishable_key}\t{mode}\t{origins}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from .demo.runner import main as run_demo
    from .logs import configure_logging

    settings = _settings()
    configure_logging("WARNING")
    return run_demo(settings, args.port)


def _admin_create_user(args: argparse.Namespace) -> int:
    from tenants.dashboard.accounts import AccountService

    from .db import Database
    from .migrate import upgrade

    password = sys.stdin.readline().rstrip("\r\n") if args.password_stdin else None
    if password is None:
        print(
            "billport: give the password on standard input with --password-stdin", file=sys.stderr
        )
        return 2
    settings = _settings()
    upgrade(settings.database_url)

    async def create() -> Any:
        database = Database(settings.database_url)
        try:
            async with database.sessions() as session:
                return await AccountService(session).create_user(
                    args.email, password, tenant_id=args.tenant, role=args.role
                )
        finally:
            await database.dispose()

    try:
        user = asyncio.run(create())
    except BillportError as exc:
        return _fail(exc, False)
    where = f" ({args.role} of {args.tenant})" if args.tenant else ""
    print(
        f"Dashboard user {user.email} created{where}; sign in at {settings.public_url}/dashboard/"
    )
    return 0


def _doctor(args: argparse.Namespace) -> int:
    from .doctor import diagnose

    report = diagnose()
    if args.json:
        print(json.dumps(report.as_json(), indent=2))
    else:
        print("\n".join([*(check.line() for check in report.checks), report.summary()]))
    return 1 if report.failed else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="billport", description="Billport billing portal")
    commands = parser.add_subparsers(dest="command", required=True, metavar="command")

    serve = commands.add_parser("serve", help="apply migrations and serve the portal")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    serve.add_argument(
        "--forwarded-allow-ips",
        default="127.0.0.1",
        help="proxies whose X-Forwarded-* headers are trusted",
    )
    serve.add_argument(
        "--no-worker", action="store_true", help="do not deliver callbacks in this process"
    )
    serve.set_defaults(run=_serve)

    worker = commands.add_parser(
        "worker", help="deliver callbacks and process Stripe events (run any number of these)"
    )
    worker.set_defaults(run=_worker)

    db = commands.add_parser("db", help="database schema")
    db_commands = db.add_subparsers(dest="db_command", required=True, metavar="action")
    up = db_commands.add_parser("upgrade", help="migrate the schema to the newest revision")
    up.add_argument("revision", nargs="?", default="head")
    up.set_defaults(run=_db_upgrade)

    sandbox = commands.add_parser("sandbox", help="run the Stripe-compatible sandbox server")
    sandbox.add_argument("--host", default="127.0.0.1")
    sandbox.add_argument("--port", type=int, default=12111)
    sandbox.add_argument("--state", default=None, help="file that keeps accounts across restarts")
    sandbox.set_defaults(run=_sandbox)

    demo = commands.add_parser(
        "demo", help="sandbox, portal and a sample SaaS site, seeded; Ctrl-C stops all"
    )
    demo.add_argument(
        "--port",
        type=int,
        default=8000,
        help="the portal's port; the site and the sandbox take the next two",
    )
    demo.set_defaults(run=_demo)

    tenants = commands.add_parser("tenants", help="manage tenants")
    tenant_commands = tenants.add_subparsers(
        dest="tenants_command", required=True, metavar="action"
    )
    create = tenant_commands.add_parser("create", help="register a tenant")
    create.add_argument("--name", required=True)
    create.add_argument("--stripe-secret-key", required=True)
    create.add_argument("--stripe-publishable-key")
    create.add_argument("--stripe-api-base", help="Stripe API URL, e.g. the sandbox's")
    create.add_argument("--allowed-origin", action="append", metavar="ORIGIN")
    create.add_argument("--callback-url")
    create.add_argument("--json", action="store_true", help="print one JSON object")
    create.set_defaults(run=_tenants_create)
    listing = tenant_commands.add_parser("list", help="list tenants (no secrets)")
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    listing.set_defaults(run=_tenants_list)

    admin = commands.add_parser("admin", help="dashboard accounts")
    admin_commands = admin.add_subparsers(dest="admin_command", required=True)
    user = admin_commands.add_parser("create-user", help="create a dashboard user")
    user.add_argument("--email", required=True)
    user.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    user.add_argument("--tenant", help="make the user a member of this tenant (ten_…)")
    user.add_argument("--role", choices=("owner", "admin", "viewer"), default="owner")
    user.set_defaults(run=_admin_create_user)

    doctor = commands.add_parser("doctor", help="check the installation and say what to fix")
    doctor.add_argument("--json", action="store_true", help="print the report as JSON")
    doctor.set_defaults(run=_doctor)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
