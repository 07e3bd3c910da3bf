from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from portal.crypto import DecryptionError, Vault
from portal.settings import ConfigurationError, load_settings


def test_development_secrets_are_generated_once_and_kept(tmp_path: Path) -> None:
    env = {"BILLPORT_DATA_DIR": str(tmp_path / "data")}
    first = load_settings(env)
    second = load_settings(env)
    assert first.secret_key == second.secret_key and len(first.secret_key) >= 32
    assert first.encryption_keys == second.encryption_keys
    assert (tmp_path / "data" / "secret.key").stat().st_mode & 0o077 == 0


def test_defaults_follow_the_contract(tmp_path: Path) -> None:
    settings = load_settings({"BILLPORT_DATA_DIR": str(tmp_path)})
    assert settings.database_url == "sqlite+aiosqlite:///./billport.db"
    assert settings.public_url == "http://127.0.0.1:8000"
    assert settings.env == "development"
    assert settings.operator_token is None


def test_production_needs_explicit_secrets(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="BILLPORT_SECRET_KEY and BILLPORT_ENCRYPTION"):
        load_settings({"BILLPORT_ENV": "production", "BILLPORT_DATA_DIR": str(tmp_path)})
    assert not (tmp_path / "secret.key").exists()
    key = Fernet.generate_key().decode()
    settings = load_settings(
        {
            "BILLPORT_ENV": "production",
            "BILLPORT_SECRET_KEY": "x" * 48,
            "BILLPORT_ENCRYPTION_KEYS": f"{key}, {Fernet.generate_key().decode()}",
        }
    )
    assert settings.production and settings.encryption_keys[0] == key


@pytest.mark.parametrize(
    "env",
    [
        {"BILLPORT_ENV": "prod"},
        {"BILLPORT_PUBLIC_URL": "billing.example.com"},
        {"BILLPORT_ENCRYPTION_KEYS": "short"},
        {"BILLPORT_STRIPE_TIMEOUT": "soon"},
    ],
)
def test_bad_configuration_is_refused(tmp_path: Path, env: dict[str, str]) -> None:
    with pytest.raises(ConfigurationError):
        load_settings({"BILLPORT_DATA_DIR": str(tmp_path), **env})


def test_vault_decrypts_with_rotated_keys() -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    token = Vault([old]).encrypt("sk_test_secret")
    rotated = Vault([new, old])
    assert rotated.decrypt(token) == "sk_test_secret"
    assert Vault([new]).decrypt(rotated.rotate(token)) == "sk_test_secret"
    with pytest.raises(DecryptionError):
        Vault([new]).decrypt(token)
