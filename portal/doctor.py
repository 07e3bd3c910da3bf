"""``billport doctor``: checks an installation end to end and says what to fix.

The doctor only reads. It generates no development secrets, creates no database, runs no
migration, and probes tenants' callback URLs with a ``HEAD`` request (never a callback), so
it is safe to run against a production installation at any time.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Awaitable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import stripe
from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from .callbacks.models import FAILED as CALLBACK_FAILED
from .callbacks.models import PENDING, CallbackDelivery
from .db import Database, is_sqlite
from .settings import ConfigurationError, Settings, load_settings
from .stripe_gateway import StripeGateway
from .stripe_intake.models import FAILED as EVENT_FAILED
from .stripe_intake.models import RECEIVED, StripeEvent

OK, WARN, FAIL = "OK", "WARN", "FAIL"
# A callback URL gets this long to answer the probe; Stripe gets at most this long per call.
PROBE_TIMEOUT = 5.0
STRIPE_TIMEOUT = 10.0
DATABASE_TIMEOUT = 10.0
# Work waiting longer than this while nobody claims it means no worker is running.
OVERDUE = timedelta(minutes=10)
# Tenants checked at once (each makes two or three outbound requests).
PARALLEL_TENANTS = 8
LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", "0.0.0.0"}  # noqa: S104 (names, not a bind)


@dataclass
class Check:
    """One finding: what was checked, how it went, and what to do about it."""

    scope: str  # "config", "database", "worker", or a tenant id
    name: str
    status: str
    message: str
    fix: str | None = None
    tenant: str | None = None
    tenant_name: str | None = None

    def line(self) -> str:
        where = f"{self.scope} ({self.tenant_name})" if self.tenant_name else self.scope
        text = f"{self.status:<4}  {where} {self.name}: {self.message}"
        return f"{text}; fix: {self.fix}" if self.fix else text


@dataclass
class Report:
    checks: list[Check] = field(default_factory=list)

    def add(
        self, scope: str, name: str, status: str, message: str, fix: str | None = None
    ) -> Check:
        check = Check(scope, name, status, message, fix)
        self.checks.append(check)
        return check

    @property
    def failed(self) -> bool:
        return any(check.status == FAIL for check in self.checks)

    def counts(self) -> dict[str, int]:
        return {status: sum(c.status == status for c in self.checks) for status in (OK, WARN, FAIL)}

    def summary(self) -> str:
        counts = self.counts()
        return f"{counts[FAIL]} FAIL, {counts[WARN]} WARN, {counts[OK]} OK"

    def as_json(self) -> dict[str, Any]:
        return {
            "ok": not self.failed,
            "summary": self.counts(),
            "checks": [asdict(check) for check in self.checks],
        }


def diagnose(environ: Mapping[str, str] | None = None) -> Report:
    """Run every check against the installation the environment describes."""
    report = Report()
    settings = _configuration(report, os.environ if environ is None else environ)
    if settings is not None and _database_file(report, settings.database_url):
        asyncio.run(_installation(report, settings))
    # Installation-wide findings first, then each tenant's, in the order tenants were made.
    order = {"config": 0, "database": 1, "worker": 2, "tenants": 3}
    report.checks.sort(key=lambda check: order.get(check.scope, len(order)))
    return report


# -- configuration ---------------------------------------------------------------------------


def _configuration(report: Report, environ: Mapping[str, str]) -> Settings | None:
    env = dict(environ)
    mode = env.get("BILLPORT_ENV", "development").strip() or "development"
    data_dir = Path(env.get("BILLPORT_DATA_DIR", ".billport"))
    missing: list[Path] = []
    if mode != "production":
        # load_settings would generate what is missing; the doctor only reads, so it stands
        # in throwaway values and says so.
        for variable, filename, make in (
            ("BILLPORT_SECRET_KEY", "secret.key", lambda: "x" * 48),
            ("BILLPORT_ENCRYPTION_KEYS", "encryption.keys", lambda: Fernet.generate_key().decode()),
        ):
            path = data_dir / filename
            if not env.get(variable, "").strip() and not path.exists():
                missing.append(path)
                env[variable] = make()
    try:
        settings = load_settings(env)
    except ConfigurationError as exc:
        report.add(
            "config",
            "settings",
            FAIL,
            str(exc),
            "set the variable it names (see docs/configuration.md) and run the doctor again",
        )
        return None

    if missing:
        report.add(
            "config",
            "secrets",
            WARN,
            f"no development secrets at {', '.join(str(p) for p in missing)}; the portal "
            "generates them on its first start",
            "run the doctor in the portal's directory (or with its BILLPORT_DATA_DIR), or set "
            "BILLPORT_SECRET_KEY and BILLPORT_ENCRYPTION_KEYS",
        )
    elif settings.production:
        report.add(
            "config",
            "secrets",
            OK,
            f"production: BILLPORT_SECRET_KEY and {len(settings.encryption_keys)} encryption "
            "key(s) from the environment",
        )
    elif settings.public_url.startswith("https://"):
        report.add(
            "config",
            "secrets",
            WARN,
            f"BILLPORT_ENV={settings.env} with a public https URL: secrets come from files in "
            f"{data_dir}/ instead of your secret store",
            "set BILLPORT_ENV=production with BILLPORT_SECRET_KEY and BILLPORT_ENCRYPTION_KEYS",
        )
    else:
        report.add(
            "config",
            "secrets",
            OK,
            f"{settings.env}: secrets from {data_dir}/ (use BILLPORT_ENV=production for a real "
            "installation)",
        )
    _public_url(report, settings)
    return settings


def _public_url(report: Report, settings: Settings) -> None:
    url = settings.public_url
    host = (urlsplit(url).hostname or "").lower()
    if settings.production and not url.startswith("https://"):
        report.add(
            "config",
            "public url",
            FAIL,
            f"BILLPORT_PUBLIC_URL is {url}; in production browsers and Stripe need https",
            "terminate TLS at your reverse proxy and set BILLPORT_PUBLIC_URL=https://…",
        )
    elif settings.production and host in LOCAL_HOSTS:
        report.add(
            "config",
            "public url",
            FAIL,
            f"BILLPORT_PUBLIC_URL is {url}: Stripe cannot send events to this machine's "
            "loopback address",
            "set BILLPORT_PUBLIC_URL to the address the internet reaches the portal at",
        )
    else:
        report.add("config", "public url", OK, url)


# -- database and tenants --------------------------------------------------------------------


async def _installation(report: Report, settings: Settings) -> None:
    url = settings.database_url
    shown = _safe_url(url)
    try:
        database = Database(url)
    except Exception as exc:
        report.add(
            "database",
            "connection",
            FAIL,
            f"BILLPORT_DATABASE_URL cannot be used: {_describe(exc)}",
            "use an async SQLAlchemy URL: sqlite+aiosqlite:///… or postgresql+asyncpg://…",
        )
        return
    try:
        try:
            async with asyncio.timeout(DATABASE_TIMEOUT):
                revisions = await _current_revisions(database)
        except Exception as exc:
            report.add(
                "database",
                "connection",
                FAIL,
                f"cannot use {shown}: {_describe(exc)}",
                "check BILLPORT_DATABASE_URL and that the database server is running and "
                "reachable from here",
            )
            return
        report.add("database", "connection", OK, shown)
        if not _schema(report, url, revisions):
            report.add(
                "tenants",
                "checks",
                WARN,
                "skipped: the schema is not at the newest revision",
                "run `billport db upgrade`, then the doctor again",
            )
            return
        try:
            await _worker_backlog(report, database)
            await _tenants(report, settings, database)
        except Exception as exc:
            report.add(
                "database",
                "read",
                FAIL,
                f"reading the installation failed: {_describe(exc)}",
                "check the database server's logs, then run the doctor again",
            )
    finally:
        await database.dispose()


def _database_file(report: Report, url: str) -> bool:
    """Whether a SQLite database file exists (connecting would create an empty one)."""
    try:
        sqlite = is_sqlite(url)
    except Exception as exc:
        report.add(
            "database",
            "connection",
            FAIL,
            f"BILLPORT_DATABASE_URL is not a database URL: {_describe(exc)}",
            "use an async SQLAlchemy URL: sqlite+aiosqlite:///… or postgresql+asyncpg://…",
        )
        return False
    if sqlite:
        path = make_url(url).database
        if path and path != ":memory:" and not Path(path).expanduser().exists():
            report.add(
                "database",
                "connection",
                FAIL,
                f"no SQLite database at {path}",
                "run the doctor in the portal's directory, or set BILLPORT_DATABASE_URL to "
                "the portal's database (`billport db upgrade` creates a new one)",
            )
            return False
    return True


def _safe_url(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "BILLPORT_DATABASE_URL"


async def _current_revisions(database: Database) -> tuple[str, ...]:
    from alembic.migration import MigrationContext

    async with database.engine.connect() as conn:
        heads = await conn.run_sync(
            lambda sync: MigrationContext.configure(sync).get_current_heads()
        )
    return tuple(heads)


def _schema(report: Report, url: str, current: tuple[str, ...]) -> bool:
    from alembic.script import ScriptDirectory

    from .migrate import alembic_config

    script = ScriptDirectory.from_config(alembic_config(url))
    heads = tuple(script.get_heads())
    known = {revision.revision for revision in script.walk_revisions()}
    if set(current) == set(heads):
        report.add("database", "schema", OK, f"at the newest revision ({', '.join(heads)})")
        return True
    if not current:
        report.add(
            "database",
            "schema",
            FAIL,
            "the database has no Billport schema",
            "run `billport db upgrade` (`billport serve` also does it when it starts)",
        )
    elif any(revision not in known for revision in current):
        report.add(
            "database",
            "schema",
            FAIL,
            f"the schema is at {', '.join(current)}, which this Billport version does not know "
            f"(its newest is {', '.join(heads)}): a newer version migrated this database",
            "upgrade this installation of Billport to the version the portal runs",
        )
    else:
        report.add(
            "database",
            "schema",
            FAIL,
            f"the schema is at {', '.join(current)}; the newest revision is {', '.join(heads)}",
            "run `billport db upgrade` (`billport serve` also does it when it starts)",
        )
    return False


async def _worker_backlog(report: Report, database: Database) -> None:
    now = datetime.now(UTC)
    cutoff = now - OVERDUE
    async with database.sessions() as session:
        overdue_callbacks = await session.scalar(
            select(func.count()).where(
                CallbackDelivery.status == PENDING,
                CallbackDelivery.next_attempt_at < cutoff,
                (CallbackDelivery.claimed_until.is_(None)) | (CallbackDelivery.claimed_until < now),
            )
        )
        overdue_events = await session.scalar(
            select(func.count()).where(
                StripeEvent.status == RECEIVED, StripeEvent.received_at < cutoff
            )
        )
    minutes = int(OVERDUE.total_seconds() // 60)
    if overdue_callbacks or overdue_events:
        report.add(
            "worker",
            "backlog",
            WARN,
            f"{overdue_callbacks} callback(s) and {overdue_events} Stripe event(s) have waited "
            f"more than {minutes} minutes for a worker",
            "make sure a worker runs: `billport worker`, or `billport serve` without --no-worker",
        )
    else:
        report.add("worker", "backlog", OK, f"nothing has waited more than {minutes} minutes")


@dataclass
class _Counts:
    callbacks: dict[str, int] = field(default_factory=dict)
    events_failed: int = 0
    events_given_up: int = 0


async def _tenants(report: Report, settings: Settings, database: Database) -> None:
    from tenants.models import Tenant

    async with database.sessions() as session:
        tenants = list((await session.scalars(select(Tenant).order_by(Tenant.created_at))).all())
        counts = await _counts(session)
    keys = _Keys(settings.encryption_keys)
    plaintexts = {tenant.id: keys.secrets_of(tenant) for tenant in tenants}
    _encryption_report(report, keys, tenants)
    if not tenants:
        report.add("tenants", "count", WARN, "no tenants yet", "`billport tenants create …`")
        return
    live = [tenant.id for tenant in tenants if tenant.livemode]
    if live and not settings.production:
        report.add(
            "config",
            "environment",
            WARN,
            f"{len(live)} tenant(s) use live Stripe keys while BILLPORT_ENV={settings.env}",
            "set BILLPORT_ENV=production with explicit BILLPORT_SECRET_KEY and "
            "BILLPORT_ENCRYPTION_KEYS",
        )
    doctor_settings = settings.with_changes(
        stripe_timeout=min(settings.stripe_timeout, STRIPE_TIMEOUT), stripe_max_network_retries=0
    )
    gateway = StripeGateway(doctor_settings)
    limit = asyncio.Semaphore(PARALLEL_TENANTS)
    try:
        async with httpx.AsyncClient(
            timeout=PROBE_TIMEOUT,
            follow_redirects=False,
            headers={"user-agent": "billport-doctor"},
        ) as http:

            async def one(tenant: Any) -> list[Check]:
                async with limit:
                    return await _tenant(
                        tenant,
                        plaintexts[tenant.id],
                        counts.get(tenant.id, _Counts()),
                        settings.public_url,
                        gateway,
                        http,
                    )

            results = await asyncio.gather(*(one(tenant) for tenant in tenants))
    finally:
        await gateway.aclose()
    for tenant, checks in zip(tenants, results, strict=True):
        for check in checks:
            check.tenant, check.tenant_name = tenant.id, tenant.name
        report.checks.extend(checks)


async def _counts(session: Any) -> dict[str, _Counts]:
    counts: dict[str, _Counts] = {}
    rows = await session.execute(
        select(CallbackDelivery.tenant_id, CallbackDelivery.status, func.count()).group_by(
            CallbackDelivery.tenant_id, CallbackDelivery.status
        )
    )
    for tenant_id, status, count in rows:
        counts.setdefault(tenant_id, _Counts()).callbacks[status] = count
    rows = await session.execute(
        select(
            StripeEvent.tenant_id,
            StripeEvent.next_attempt_at.is_(None),
            func.count(),
        )
        .where(StripeEvent.status == EVENT_FAILED)
        .group_by(StripeEvent.tenant_id, StripeEvent.next_attempt_at.is_(None))
    )
    for tenant_id, given_up, count in rows:
        entry = counts.setdefault(tenant_id, _Counts())
        entry.events_failed += count
        if given_up:
            entry.events_given_up += count
    return counts


class _Keys:
    """Decrypts stored secrets, noting which ones still need a key other than the first."""

    FIELDS = (
        ("stripe_secret_key", "stripe_secret_key_encrypted", None),
        ("token_secret", "token_secret_encrypted", None),
        ("callback_secret", "callback_secret_encrypted", None),
        ("stripe_webhook_secret", "stripe_webhook_secret_encrypted", None),
        (
            "previous_token_secret",
            "previous_token_secret_encrypted",
            "previous_token_secret_expires_at",
        ),
        (
            "previous_callback_secret",
            "previous_callback_secret_encrypted",
            "previous_callback_secret_expires_at",
        ),
    )

    def __init__(self, keys: tuple[str, ...]) -> None:
        self.fernets = [Fernet(key) for key in keys]
        self.total = 0
        self.older_key = 0
        self.unreadable: dict[str, list[str]] = {}

    def decrypt(self, ciphertext: str) -> tuple[str | None, int | None]:
        """The plaintext and the position of the key that opened it."""
        for position, fernet in enumerate(self.fernets):
            try:
                return fernet.decrypt(ciphertext.encode()).decode(), position
            except InvalidToken:
                continue
        return None, None

    def secrets_of(self, tenant: Any) -> dict[str, str | None]:
        now = datetime.now(UTC)
        plain: dict[str, str | None] = {}
        for name, column, expires in self.FIELDS:
            ciphertext = getattr(tenant, column)
            if ciphertext is None:
                continue
            # A replaced secret past its overlap is never read again.
            until = getattr(tenant, expires) if expires else None
            if expires and (until is None or until <= now):
                continue
            self.total += 1
            value, position = self.decrypt(ciphertext)
            plain[name] = value
            if value is None:
                self.unreadable.setdefault(tenant.id, []).append(name)
            elif position:
                self.older_key += 1
        return plain


def _encryption_report(report: Report, keys: _Keys, tenants: list[Any]) -> None:
    if keys.unreadable:
        which = "; ".join(
            f"{tenant_id}: {', '.join(names)}" for tenant_id, names in keys.unreadable.items()
        )
        count = sum(len(names) for names in keys.unreadable.values())
        report.add(
            "config",
            "encryption keys",
            FAIL,
            f"{count} of {keys.total} stored secret(s) cannot be decrypted with "
            f"BILLPORT_ENCRYPTION_KEYS ({which})",
            "add the key they were encrypted with back to BILLPORT_ENCRYPTION_KEYS (after the "
            "current first key), or run the doctor with the portal's environment",
        )
        return
    note = ""
    if keys.older_key:
        note = (
            f"; {keys.older_key} still need an older key, so keep every key in the list "
            "until they are replaced"
        )
    report.add(
        "config",
        "encryption keys",
        OK,
        f"{len(keys.fernets)} key(s) decrypt all {keys.total} stored secret(s) of "
        f"{len(tenants)} tenant(s){note}",
    )


# -- one tenant ------------------------------------------------------------------------------


async def _tenant(
    tenant: Any,
    plain: dict[str, str | None],
    counts: _Counts,
    public_url: str,
    gateway: StripeGateway,
    http: httpx.AsyncClient,
) -> list[Check]:
    checks: list[Check] = []

    def add(name: str, status: str, message: str, fix: str | None = None) -> None:
        checks.append(Check(tenant.id, name, status, message, fix))

    dashboard = f"{public_url}/dashboard/t/{tenant.id}"
    key = plain.get("stripe_secret_key")
    # The webhook is looked up in Stripe only with a key that works.
    client: stripe.StripeClient | None = None
    if key is None:
        add(
            "stripe key",
            FAIL,
            "the stored Stripe key cannot be decrypted",
            "see the config encryption keys check",
        )
    else:
        candidate = gateway.client(key, tenant.stripe_api_base)
        outcome = await _safely(_stripe_key(candidate, key, tenant, dashboard))
        add("stripe key", *outcome)
        if outcome[0] == OK:
            client = candidate
    add(
        "stripe webhook",
        *await _safely(_stripe_webhook(tenant, plain, client, public_url, dashboard)),
    )
    add("callback url", *await _safely(_callback_url(tenant, http)))

    if tenant.allowed_origins:
        add("allowed origins", OK, ", ".join(tenant.allowed_origins))
    else:
        add(
            "allowed origins",
            WARN,
            "none: no page may embed this tenant's widgets (only session URLs open as full pages)",
            f"add your app's origin, e.g. https://app.example.com, in the dashboard's Settings "
            f"({dashboard}/settings) or with PATCH /api/v1/tenant",
        )

    failed = counts.callbacks.get(CALLBACK_FAILED, 0)
    pending = counts.callbacks.get(PENDING, 0)
    if failed:
        add(
            "callbacks",
            WARN,
            f"{failed} callback(s) failed for good, {pending} pending",
            "read their last errors with GET /api/v1/callbacks?status=failed (or the "
            "dashboard's Callbacks page), fix the receiver, then POST /api/v1/callbacks/replay",
        )
    else:
        add("callbacks", OK, f"none failed, {pending} pending")

    if counts.events_failed:
        retrying = counts.events_failed - counts.events_given_up
        add(
            "stripe events",
            WARN,
            f"{counts.events_failed} Stripe event(s) failed to process ({retrying} still being "
            f"retried, {counts.events_given_up} given up)",
            f"read the errors on the dashboard's Stripe page ({dashboard}/stripe) and in the "
            "worker's logs (logger billport.stripe_intake)",
        )
    else:
        add("stripe events", OK, "none failed")
    return checks


async def _stripe_key(
    client: stripe.StripeClient, key: str, tenant: Any, dashboard: str
) -> tuple[str, str, str | None]:
    where = tenant.stripe_api_base or "Stripe"
    replace = (
        f"give the tenant a working key of the same mode on the dashboard's Stripe page "
        f'({dashboard}/stripe) or with PATCH /api/v1/tenant {{"stripe_secret_key": …}}'
    )
    try:
        await client.v1.customers.list_async(params={"limit": 1})
    except stripe.AuthenticationError as exc:
        said = _without(exc.user_message or "invalid API key", key, tenant.stripe_secret_key_hint)
        return FAIL, f"{where} rejects the key {tenant.stripe_secret_key_hint}: {said}", replace
    except stripe.PermissionError:
        return (
            FAIL,
            f"the restricted key {tenant.stripe_secret_key_hint} cannot read customers",
            "give the key the permissions listed in docs/cli.md (tenants create), or " + replace,
        )
    except stripe.APIConnectionError as exc:
        return (
            FAIL,
            f"{where} cannot be reached from here: {_describe(exc)}",
            "check this host's outbound network (proxy, firewall, DNS)"
            + (", and that `billport sandbox` runs" if tenant.stripe_api_base else ""),
        )
    except stripe.StripeError as exc:
        said = _without(exc.user_message or str(exc), key, tenant.stripe_secret_key_hint)
        return WARN, f"{where} answered an error: {said}", "run the doctor again later"
    mode = "live" if tenant.livemode else "test"
    return OK, f"{tenant.stripe_secret_key_hint} works ({mode} mode, {where})", None


async def _stripe_webhook(
    tenant: Any,
    plain: dict[str, str | None],
    client: stripe.StripeClient | None,
    public_url: str,
    dashboard: str,
) -> tuple[str, str, str | None]:
    from .stripe_intake.processor import ENABLED_EVENTS

    expected = f"{public_url}/stripe/webhooks/{tenant.id}"
    register = (
        f"register Billport's endpoint again on the dashboard's Stripe page ({dashboard}/stripe)"
    )
    if tenant.stripe_webhook_secret_encrypted is None:
        return (
            FAIL,
            "no Stripe webhook signing secret: Stripe's events (renewals, failed payments, "
            "cancellations) never reach Billport",
            register + f", or create an endpoint for {expected} in Stripe and set its signing "
            'secret with PATCH /api/v1/tenant {"stripe_webhook_secret": "whsec_…"}',
        )
    if plain.get("stripe_webhook_secret") is None:
        return (
            FAIL,
            "the stored signing secret cannot be decrypted",
            "see the config encryption keys check",
        )
    if client is None:
        return (
            WARN,
            "not checked in Stripe: the tenant's Stripe key does not work",
            "fix the stripe key check first, then run the doctor again",
        )

    endpoint_id = tenant.stripe_webhook_endpoint_id
    if endpoint_id is None:
        # A pasted signing secret: look for an endpoint sending to this portal.
        page = await client.v1.webhook_endpoints.list_async(params={"limit": 100})
        matching = [e for e in page.data if e.url == expected]
        if any(e.status == "enabled" for e in matching):
            return OK, f"signing secret set by hand; an enabled endpoint sends to {expected}", None
        return (
            FAIL,
            f"signing secret set by hand, but no enabled endpoint in Stripe sends to {expected}",
            register,
        )
    try:
        endpoint = await client.v1.webhook_endpoints.retrieve_async(endpoint_id)
    except stripe.InvalidRequestError as exc:
        if exc.http_status != 404:
            raise
        return FAIL, f"the endpoint {endpoint_id} no longer exists in Stripe", register
    if endpoint.status != "enabled":
        return (
            FAIL,
            f"the endpoint {endpoint_id} is {endpoint.status} in Stripe",
            "enable it in the Stripe dashboard (Developers → Webhooks), or " + register,
        )
    if endpoint.url != expected:
        return (
            FAIL,
            f"the endpoint {endpoint_id} sends to {endpoint.url}, not {expected}",
            "if BILLPORT_PUBLIC_URL changed, " + register + "; otherwise set "
            "BILLPORT_PUBLIC_URL to the address the endpoint uses",
        )
    events = set(endpoint.enabled_events or [])
    lacking = sorted(set(ENABLED_EVENTS) - events) if "*" not in events else []
    if lacking:
        return (
            WARN,
            f"the endpoint {endpoint_id} does not send {', '.join(lacking)}",
            register,
        )
    return OK, f"{endpoint_id} enabled, sends to {expected}", None


async def _callback_url(tenant: Any, http: httpx.AsyncClient) -> tuple[str, str, str | None]:
    settings_page = 'the dashboard\'s Settings or PATCH /api/v1/tenant {"callback_url": …}'
    url = tenant.callback_url
    if not url:
        return (
            WARN,
            "no callback URL: billing events are recorded but the tenant's server hears of none",
            f"set callback_url in {settings_page}",
        )
    if tenant.callbacks_disabled_at is not None:
        since = tenant.callbacks_disabled_at.strftime("%Y-%m-%d %H:%M UTC")
        return (
            FAIL,
            f"callbacks are disabled since {since}: {url} answered 410 Gone",
            f"save the callback URL again in {settings_page} (this re-enables callbacks), "
            "then POST /api/v1/callbacks/replay",
        )
    # HEAD: proves the host answers HTTP without delivering anything the tenant would act on.
    try:
        answer = await http.head(url)
    except httpx.TimeoutException:
        return (
            FAIL,
            f"{url} did not answer within {PROBE_TIMEOUT:g} s",
            "check that the tenant's server runs and accepts connections from Billport's "
            f"workers, or correct the URL in {settings_page}",
        )
    except httpx.HTTPError as exc:
        return (
            FAIL,
            f"{url} cannot be reached: {_describe(exc)}",
            "check the URL's host, port, DNS and TLS certificate, and that the tenant's server "
            f"accepts connections from Billport's workers; correct it in {settings_page}",
        )
    code = answer.status_code
    insecure = tenant.livemode and url.startswith("http://")
    if code == 410:
        return (
            FAIL,
            f"{url} answers 410 Gone: the first callback will disable callbacks",
            f"set the receiver's current URL in {settings_page}",
        )
    if 300 <= code < 400:
        return (
            WARN,
            f"{url} redirects ({code}) to {answer.headers.get('location', '?')}; callbacks "
            "are not redirected",
            f"set the final URL in {settings_page}",
        )
    if code == 404:
        return (
            WARN,
            f"{url} answered HEAD with 404; fine if it only answers POST, otherwise the path "
            "is wrong",
            "check the path; send a test callback from the dashboard's Callbacks page",
        )
    if code >= 500:
        return (
            WARN,
            f"{url} answered HEAD with {code}",
            "check the tenant's server; send a test callback from the dashboard's Callbacks page",
        )
    if insecure:
        return (
            WARN,
            f"{url} answers ({code}) but is not https for a live-mode tenant",
            f"use an https callback URL in {settings_page}",
        )
    return OK, f"{url} answers (HEAD {code})", None


# -- helpers ---------------------------------------------------------------------------------

Outcome = tuple[str, str, str | None]


async def _safely(check: Awaitable[Outcome]) -> Outcome:
    """One check going wrong in an unforeseen way must not hide the others."""
    try:
        return await check
    except Exception as exc:
        return (
            FAIL,
            f"could not be checked: {_describe(exc)}",
            "run the doctor again; if it persists, the message says what went wrong",
        )


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "no answer in time"
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    # SQLAlchemy prefixes the driver's message with the wrapping class: keep the message.
    text = re.sub(r"^\([\w.]+\)\s*", "", text)
    if getattr(exc, "orig", None) is not None and text:
        return text
    name = type(exc).__name__
    return f"{name}: {text}" if text else name


def _without(text: str, secret: str, hint: str) -> str:
    """Stripe's messages may quote the key: never print a secret."""
    return text.replace(secret, hint)
