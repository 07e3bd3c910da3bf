"""Configuration from the environment (CONTRACT "Configuration").

In development, secrets that are not given are generated once into the data directory, so a
restart keeps sessions valid and encrypted data readable. In production nothing is generated:
a missing secret stops the start with a message naming it.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from cryptography.fernet import Fernet


class ConfigurationError(Exception):
    """The environment does not describe a startable portal."""


DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./billport.db"
DEFAULT_PUBLIC_URL = "http://127.0.0.1:8000"
DEFAULT_OIDC_NAME = "single sign-on"
DEFAULT_OIDC_SCOPES = "openid email profile"


@dataclass(frozen=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    public_url: str = DEFAULT_PUBLIC_URL
    secret_key: str = ""
    encryption_keys: tuple[str, ...] = ()
    env: str = "development"
    operator_token: str | None = None
    data_dir: Path = field(default_factory=lambda: Path(".billport"))
    log_level: str = "INFO"
    # Seconds Billport waits for one Stripe call, and how often the SDK retries it.
    stripe_timeout: float = 20.0
    stripe_max_network_retries: int = 2
    # Whether this process also delivers callbacks (``billport serve`` without --no-worker).
    worker_in_process: bool = False
    # Seconds a worker holds claimed callbacks before another may take them over.
    callback_lease_seconds: int = 60
    # Dashboard single sign-on through an OpenID Connect provider; off while the issuer is unset.
    oidc_issuer: str | None = None
    oidc_client_id: str | None = None
    oidc_client_secret: str | None = field(default=None, repr=False)
    oidc_name: str = DEFAULT_OIDC_NAME
    oidc_scopes: str = DEFAULT_OIDC_SCOPES

    @property
    def production(self) -> bool:
        return self.env == "production"

    def with_changes(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read the environment; generate development secrets into the data dir when missing."""
    env = os.environ if environ is None else environ
    mode = env.get("BILLPORT_ENV", "development").strip() or "development"
    if mode not in {"development", "production", "test"}:
        raise ConfigurationError(
            f"BILLPORT_ENV must be development, production or test, not {mode!r}"
        )
    data_dir = Path(env.get("BILLPORT_DATA_DIR", ".billport"))
    public_url = env.get("BILLPORT_PUBLIC_URL", DEFAULT_PUBLIC_URL).rstrip("/")
    if not public_url.startswith(("http://", "https://")):
        raise ConfigurationError("BILLPORT_PUBLIC_URL must start with http:// or https://")
    secret_key = env.get("BILLPORT_SECRET_KEY", "").strip()
    keys_text = env.get("BILLPORT_ENCRYPTION_KEYS", "").strip()

    if mode == "production":
        missing = [
            name
            for name, value in (
                ("BILLPORT_SECRET_KEY", secret_key),
                ("BILLPORT_ENCRYPTION_KEYS", keys_text),
            )
            if not value
        ]
        if missing:
            raise ConfigurationError(
                "BILLPORT_ENV=production refuses to start without explicit secrets: set "
                + " and ".join(missing)
            )
        if len(secret_key) < 32:
            raise ConfigurationError("BILLPORT_SECRET_KEY must be at least 32 characters")
    if not secret_key:
        secret_key = _persisted(data_dir / "secret.key", lambda: secrets.token_urlsafe(48))
    if not keys_text:
        keys_text = _persisted(data_dir / "encryption.keys", lambda: Fernet.generate_key().decode())
    encryption_keys = tuple(k.strip() for k in keys_text.split(",") if k.strip())
    for key in encryption_keys:
        try:
            Fernet(key)
        except ValueError as exc:
            raise ConfigurationError(
                "BILLPORT_ENCRYPTION_KEYS must be comma-separated Fernet keys "
                "(32 url-safe base64-encoded bytes each)"
            ) from exc

    try:
        timeout = float(env.get("BILLPORT_STRIPE_TIMEOUT", "20"))
        retries = int(env.get("BILLPORT_STRIPE_MAX_NETWORK_RETRIES", "2"))
        lease = int(env.get("BILLPORT_CALLBACK_LEASE", "60"))
    except ValueError as exc:
        raise ConfigurationError(
            "BILLPORT_STRIPE_TIMEOUT, BILLPORT_STRIPE_MAX_NETWORK_RETRIES and "
            "BILLPORT_CALLBACK_LEASE must be numbers"
        ) from exc

    settings = Settings(
        database_url=env.get("BILLPORT_DATABASE_URL", DEFAULT_DATABASE_URL),
        public_url=public_url,
        secret_key=secret_key,
        encryption_keys=encryption_keys,
        env=mode,
        operator_token=env.get("BILLPORT_OPERATOR_TOKEN") or None,
        data_dir=data_dir,
        log_level=env.get("BILLPORT_LOG_LEVEL", "INFO").upper(),
        stripe_timeout=timeout,
        stripe_max_network_retries=retries,
        worker_in_process=env.get("BILLPORT_WORKER_IN_PROCESS", "") == "1",
        callback_lease_seconds=max(lease, 1),
    )
    return settings.with_changes(**_oidc_settings(env))


def _oidc_settings(env: Mapping[str, str]) -> dict[str, str]:
    """Single sign-on: the issuer, client id and client secret come together or not at all."""
    given = {
        name: env.get(name, "").strip()
        for name in (
            "BILLPORT_OIDC_ISSUER",
            "BILLPORT_OIDC_CLIENT_ID",
            "BILLPORT_OIDC_CLIENT_SECRET",
        )
    }
    missing = [name for name, value in given.items() if not value]
    if len(missing) == len(given):
        return {}
    if missing:
        raise ConfigurationError(
            "Single sign-on needs BILLPORT_OIDC_ISSUER, BILLPORT_OIDC_CLIENT_ID and "
            "BILLPORT_OIDC_CLIENT_SECRET together: set " + " and ".join(missing)
        )
    issuer = given["BILLPORT_OIDC_ISSUER"]
    if not issuer.startswith(("http://", "https://")):
        raise ConfigurationError("BILLPORT_OIDC_ISSUER must start with https:// (or http://)")
    scopes = " ".join(env.get("BILLPORT_OIDC_SCOPES", "").split()) or DEFAULT_OIDC_SCOPES
    if "openid" not in scopes.split():
        raise ConfigurationError("BILLPORT_OIDC_SCOPES must include openid")
    return {
        "oidc_issuer": issuer,
        "oidc_client_id": given["BILLPORT_OIDC_CLIENT_ID"],
        "oidc_client_secret": given["BILLPORT_OIDC_CLIENT_SECRET"],
        "oidc_name": env.get("BILLPORT_OIDC_NAME", "").strip() or DEFAULT_OIDC_NAME,
        "oidc_scopes": scopes,
    }


def _persisted(path: Path, make: Callable[[], str]) -> str:
    """The secret in ``path``, created (readable by the owner only) on first use."""
    if path.exists():
        return path.read_text().strip()
    value = make()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(value + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    try:
        # A hard link fails if another process won the race: then theirs is the secret.
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)
    return path.read_text().strip()
