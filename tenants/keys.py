"""Rotating a tenant's secrets with an overlap, so a deploy of the new one needs no outage.

Each rotation keeps the secret it replaced for ``overlap_seconds``: the old API key still
authenticates, user tokens and Billflow hashes signed with the old token secret still verify,
and callbacks carry a second signature made with the old callback secret (Standard Webhooks
allows several). Rotating again ends the earlier overlap at once.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

import msgspec

from portal.crypto import Vault, hash_key, new_key, new_webhook_secret
from portal.db import utcnow
from portal.errors import NotFound

from .models import Tenant

SECRET_PREFIX = "bp_sk_"  # noqa: S105 (a prefix, not a secret)
TOKEN_SECRET_PREFIX = "bpts_"  # noqa: S105
ROTATABLE = ("secret_key", "token_secret", "callback_secret")
DEFAULT_OVERLAP = 86_400
MAX_OVERLAP = 30 * 86_400


class RotateKey(msgspec.Struct, forbid_unknown_fields=True):
    # How long the replaced secret keeps working; 0 retires it at once.
    overlap_seconds: Annotated[int, msgspec.Meta(ge=0, le=MAX_OVERLAP)] = DEFAULT_OVERLAP


class RotatedKey(msgspec.Struct):
    """The new secret, shown only in this answer."""

    name: str
    secret: str
    previous_valid_until: datetime | None


def hint(secret: str, keep: int = 4) -> str:
    return secret[: secret.find("_", 3) + 1] + "…" + secret[-keep:]


def _until(overlap_seconds: int, now: datetime) -> datetime | None:
    return now + timedelta(seconds=overlap_seconds) if overlap_seconds else None


def rotate(tenant: Tenant, name: str, overlap_seconds: int, vault: Vault) -> RotatedKey:
    """Replace one secret of ``tenant`` (not committed); the answer carries the new one."""
    until = _until(overlap_seconds, utcnow())
    if name == "secret_key":
        secret = new_key(SECRET_PREFIX, 32)
        tenant.previous_secret_key_hash = tenant.secret_key_hash if until else None
        tenant.previous_secret_key_expires_at = until
        tenant.secret_key_hash = hash_key(secret)
        tenant.secret_key_hint = hint(secret)
    elif name == "token_secret":
        secret = new_key(TOKEN_SECRET_PREFIX, 40)
        tenant.previous_token_secret_encrypted = tenant.token_secret_encrypted if until else None
        tenant.previous_token_secret_expires_at = until
        tenant.token_secret_encrypted = vault.encrypt(secret)
    elif name == "callback_secret":
        secret = new_webhook_secret()
        previous = tenant.callback_secret_encrypted if until else None
        tenant.previous_callback_secret_encrypted = previous
        tenant.previous_callback_secret_expires_at = until
        tenant.callback_secret_encrypted = vault.encrypt(secret)
    else:
        raise NotFound(
            f"There is no key {name!r} to rotate; rotatable keys: {', '.join(ROTATABLE)}.",
            code="unknown_key",
        )
    return RotatedKey(name=name, secret=secret, previous_valid_until=until)


def _live(vault: Vault, current: str, previous: str | None, until: datetime | None) -> list[str]:
    secrets = [vault.decrypt(current)]
    if previous and until and until > utcnow():
        secrets.append(vault.decrypt(previous))
    return secrets


def token_secrets(tenant: Tenant, vault: Vault) -> list[str]:
    """The token secrets user tokens may be signed with: the current one first."""
    return _live(
        vault,
        tenant.token_secret_encrypted,
        tenant.previous_token_secret_encrypted,
        tenant.previous_token_secret_expires_at,
    )


def callback_secrets(tenant: Tenant, vault: Vault) -> list[str]:
    """The callback secrets a delivery is signed with: the current one first."""
    return _live(
        vault,
        tenant.callback_secret_encrypted,
        tenant.previous_callback_secret_encrypted,
        tenant.previous_callback_secret_expires_at,
    )
