"""Secrets at rest: encryption for what must be read back, hashes for what is only compared."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import string

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

_ALPHABET = string.ascii_letters + string.digits


class DecryptionError(Exception):
    """Ciphertext written with a key that is no longer configured."""


class Vault:
    """Encrypts with the first configured key and decrypts with any (key rotation)."""

    def __init__(self, keys: tuple[str, ...] | list[str]) -> None:
        if not keys:
            raise ValueError("at least one encryption key is required")
        self._fernet = MultiFernet([Fernet(key) for key in keys])

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, ciphertext: str) -> str:
        try:
            return self._fernet.decrypt(ciphertext.encode()).decode()
        except InvalidToken as exc:
            raise DecryptionError(
                "stored secret cannot be decrypted with BILLPORT_ENCRYPTION_KEYS"
            ) from exc

    def rotate(self, ciphertext: str) -> str:
        """Re-encrypt under the first key (after a new key was put first)."""
        return self._fernet.rotate(ciphertext.encode()).decode()


def random_string(length: int) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def new_key(prefix: str, length: int = 32) -> str:
    return f"{prefix}{random_string(length)}"


def new_webhook_secret() -> str:
    """A Standard Webhooks secret: ``whsec_`` and base64 of 24 random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def hash_key(key: str) -> str:
    """Lookup hash of a high-entropy key (no salt needed: keys are random, not chosen)."""
    return hashlib.sha256(key.encode()).hexdigest()


def same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
