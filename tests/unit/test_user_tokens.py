"""User tokens: every malformed, forged or misused token is a clear 401/403, never a crash."""

from __future__ import annotations

import base64
import json
import time

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import given
from hypothesis import strategies as st
from joserfc import jwt
from joserfc.jwk import OctKey, RSAKey

from portal.errors import BillportError, Forbidden, Unauthorized
from portal.identity.legacy import legacy_hash, verify_legacy_hash
from portal.identity.tokens import verify_user_token

KEY = "bp_pub_" + "a" * 24
SECRET = "bpts_" + "s" * 40
NOW = 1_800_000_000


def mint(claims: dict[str, object], secret: str = SECRET, alg: str = "HS256") -> str:
    return jwt.encode({"alg": alg}, claims, OctKey.import_key(secret))


def claims(**changes: object) -> dict[str, object]:
    base: dict[str, object] = {"aud": KEY, "iat": NOW, "exp": NOW + 3600, "email": "a@x.test"}
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def verify(token: str) -> object:
    return verify_user_token(token, publishable_key=KEY, token_secret=SECRET, now=NOW)


def test_a_good_token_names_the_user() -> None:
    user = verify(mint(claims(user_id=42)))
    assert user.email == "a@x.test"  # type: ignore[attr-defined]
    assert user.customer_id is None  # type: ignore[attr-defined]
    assert user.user_id == "42"  # type: ignore[attr-defined]
    by_customer = verify(mint(claims(email=None, customer_id="cus_Abc123")))
    assert by_customer.customer_id == "cus_Abc123"  # type: ignore[attr-defined]


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _rs256_token() -> str:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return jwt.encode({"alg": "RS256"}, claims(), RSAKey.import_key(private))


@pytest.mark.parametrize(
    ("token", "code"),
    [
        (mint(claims(aud="someone-else")), "token_wrong_audience"),
        (mint(claims(aud=None)), "token_wrong_audience"),
        (mint(claims(exp=NOW - 3600, iat=NOW - 7200)), "token_expired"),
        (mint(claims(exp=None)), "token_no_expiry"),
        (mint(claims(exp="tomorrow")), "token_no_expiry"),
        (mint(claims(exp=NOW + 25 * 3600)), "token_too_long"),
        (mint(claims(iat=None, exp=NOW + 30 * 3600)), "token_too_long"),
        (mint(claims(customer_id="cus_1")), "token_identity_claims"),
        (mint(claims(email=None)), "token_identity_claims"),
        (mint(claims(email="not an email")), "invalid_email"),
        (mint(claims(email=None, customer_id="sub_123")), "invalid_customer_id"),
        (mint(claims(), secret="bpts_" + "w" * 40), "token_bad_signature"),
        (_b64({"alg": "none", "typ": "JWT"}) + "." + _b64(claims()) + ".", "invalid_token"),
        (_rs256_token(), "invalid_token"),
        ("not-a-jwt", "invalid_token"),
        ("", "invalid_token"),
        ("a.b.c", "invalid_token"),
        ("x" * 5000, "invalid_token"),
    ],
)
def test_bad_tokens_are_401_with_a_reason(token: str, code: str) -> None:
    with pytest.raises(Unauthorized) as caught:
        verify(token)
    assert caught.value.code == code
    assert caught.value.status_code == 401
    assert caught.value.message.endswith(".")


def test_tampered_payload_is_rejected() -> None:
    header, _, signature = mint(claims()).split(".")
    forged = ".".join([header, _b64(claims(email="admin@x.test")), signature])
    with pytest.raises(Unauthorized) as caught:
        verify(forged)
    assert caught.value.code == "token_bad_signature"


def test_a_token_for_another_tenant_is_403() -> None:
    other = mint(claims(aud="bp_pub_" + "b" * 24), secret="bpts_" + "o" * 40)
    with pytest.raises(Forbidden) as caught:
        verify(other)
    assert caught.value.code == "token_wrong_tenant"


def test_clock_skew_of_a_minute_is_tolerated() -> None:
    assert verify(mint(claims(exp=NOW - 30, iat=NOW - 3000)))
    with pytest.raises(Unauthorized):
        verify(mint(claims(iat=NOW + 600, exp=NOW + 1200)))


@given(st.text(max_size=600))
def test_garbage_is_always_a_clean_rejection(garbage: str) -> None:
    with pytest.raises(BillportError) as caught:
        verify(garbage)
    assert caught.value.status_code in {401, 403}


@given(
    st.dictionaries(
        st.sampled_from(["aud", "exp", "iat", "nbf", "email", "customer_id", "user_id", "x"]),
        st.one_of(
            st.none(),
            st.integers(),
            st.text(max_size=30),
            st.booleans(),
            st.lists(st.text(max_size=5), max_size=3),
        ),
    )
)
def test_any_signed_claims_verify_or_are_rejected_cleanly(payload: dict[str, object]) -> None:
    try:
        user = verify(mint(payload))
    except BillportError as error:
        assert error.status_code in {401, 403}
        return
    assert (user.email is None) != (user.customer_id is None)  # type: ignore[attr-defined]


def test_legacy_hash_matches_billflow() -> None:
    digest = legacy_hash("a@x.test", SECRET)
    assert len(digest) == 64 and digest == digest.lower()
    verify_legacy_hash("a@x.test", digest, SECRET, enabled=True)
    verify_legacy_hash("a@x.test", digest.upper(), SECRET, enabled=True)
    with pytest.raises(Unauthorized):
        verify_legacy_hash("b@x.test", digest, SECRET, enabled=True)
    with pytest.raises(Forbidden):
        verify_legacy_hash("a@x.test", digest, SECRET, enabled=False)


def test_real_clock_is_used_by_default() -> None:
    token = mint(claims(iat=int(time.time()), exp=int(time.time()) + 60))
    assert verify_user_token(token, publishable_key=KEY, token_secret=SECRET)
