from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from portal.errors import ValidationFailed
from portal.stripe_gateway import idempotency_key, key_livemode
from tenants.service import check_callback_url, normalize_origin, normalize_origins


@pytest.mark.parametrize(
    ("given_origin", "expected"),
    [
        ("https://App.Example.com/", "https://app.example.com"),
        ("http://localhost:3000", "http://localhost:3000"),
        ("https://example.com:443", "https://example.com:443"),
    ],
)
def test_origins_are_normalized(given_origin: str, expected: str) -> None:
    assert normalize_origin(given_origin) == expected


@pytest.mark.parametrize(
    "bad",
    [
        "example.com",
        "ftp://example.com",
        "https://example.com/app",
        "https://u:p@example.com",
        "https://example.com?x=1",
        "https://",
        "javascript:alert(1)",
        "https://example.com:99999",
    ],
)
def test_non_origins_are_refused(bad: str) -> None:
    with pytest.raises(ValidationFailed):
        normalize_origin(bad)


def test_duplicate_origins_collapse() -> None:
    assert normalize_origins(["https://a.test", "https://A.test/"]) == ["https://a.test"]


@given(st.text(max_size=200))
def test_origin_check_never_crashes(text: str) -> None:
    try:
        assert normalize_origin(text).startswith(("http://", "https://"))
    except ValidationFailed:
        pass


@given(st.text(max_size=200))
def test_callback_check_never_crashes(text: str) -> None:
    try:
        result = check_callback_url(text)
    except ValidationFailed:
        return
    assert result is None or result.startswith(("http://", "https://"))


def test_livemode_comes_from_the_key() -> None:
    assert key_livemode("sk_live_abc") is True
    assert key_livemode("rk_live_abc") is True
    assert key_livemode("sk_test_abc") is False
    with pytest.raises(ValidationFailed):
        key_livemode("pk_test_abc")


def test_idempotency_keys_are_stable_per_action() -> None:
    assert idempotency_key("ten_1", "subscribe", "cus_1") == idempotency_key(
        "ten_1", "subscribe", "cus_1"
    )
    assert idempotency_key("ten_1", "subscribe", "cus_1") != idempotency_key(
        "ten_1", "subscribe", "cus_2"
    )
    # Parts are separated, so shifting text between them changes the key.
    assert idempotency_key("ab", "c") != idempotency_key("a", "bc")
