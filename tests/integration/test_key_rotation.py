"""Rotating a tenant's secrets: the new one works at once, the old one until its overlap ends."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import update
from standardwebhooks import Webhook, WebhookVerificationError

from portal.db import create_engine
from portal.identity.legacy import legacy_hash
from portal.settings import Settings
from tenants.models import Tenant
from tests.callbacks_support import Clock, Receiver, queue, work
from tests.servers import run_async
from tests.tokens import mint_user_token


def auth(secret_key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret_key}"}


def rotate(api: httpx.Client, tenant: dict[str, Any], name: str, **body: Any) -> dict[str, Any]:
    answer = api.post(
        f"/api/v1/tenant/keys/{name}/rotate", headers=auth(tenant["secret_key"]), json=body
    )
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def end_overlaps(settings: Settings, tenant_id: str) -> None:
    """Move every overlap of the tenant into the past, as if its time had run out."""

    async def go() -> None:
        past = datetime(2020, 1, 1, tzinfo=UTC)
        engine = create_engine(settings.database_url)
        async with engine.begin() as conn:
            await conn.execute(
                update(Tenant)
                .where(Tenant.id == tenant_id)
                .values(
                    previous_secret_key_expires_at=past,
                    previous_token_secret_expires_at=past,
                    previous_callback_secret_expires_at=past,
                )
            )
        await engine.dispose()

    run_async(go)


def test_a_rotated_api_key_overlaps_then_stops(
    api: httpx.Client, create_tenant, portal_settings: Settings
) -> None:
    tenant = create_tenant()
    old = tenant["secret_key"]
    rotated = rotate(api, tenant, "secret_key", overlap_seconds=3600)
    assert set(rotated) == {"name", "secret", "previous_valid_until"}
    new = rotated["secret"]
    assert new.startswith("bp_sk_") and new != old
    until = datetime.fromisoformat(rotated["previous_valid_until"]).timestamp()
    assert abs(until - (time.time() + 3600)) < 60

    for key in (old, new):
        assert api.get("/api/v1/tenant", headers=auth(key)).status_code == 200
    settings = api.get("/api/v1/tenant", headers=auth(new)).json()
    assert settings["secret_key_hint"].endswith(new[-4:])

    end_overlaps(portal_settings, tenant["id"])
    refused = api.get("/api/v1/tenant", headers=auth(old))
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "invalid_api_key"
    assert api.get("/api/v1/tenant", headers=auth(new)).status_code == 200


def test_rotating_without_overlap_retires_the_old_key_at_once(
    api: httpx.Client, create_tenant
) -> None:
    tenant = create_tenant()
    rotated = rotate(api, tenant, "secret_key", overlap_seconds=0)
    assert rotated["previous_valid_until"] is None
    assert api.get("/api/v1/tenant", headers=auth(tenant["secret_key"])).status_code == 401
    # Rotating again ends the earlier overlap: only the newest key works.
    second = rotate(api, {**tenant, "secret_key": rotated["secret"]}, "secret_key")
    third = rotate(api, {**tenant, "secret_key": second["secret"]}, "secret_key")
    assert api.get("/api/v1/tenant", headers=auth(rotated["secret"])).status_code == 401
    for key in (second["secret"], third["secret"]):
        assert api.get("/api/v1/tenant", headers=auth(key)).status_code == 200


def test_rotation_refuses_bad_input(api: httpx.Client, create_tenant) -> None:
    tenant = create_tenant()
    path = "/api/v1/tenant/keys/{}/rotate"
    headers = auth(tenant["secret_key"])
    unknown = api.post(path.format("publishable_key"), headers=headers)
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "unknown_key"
    for body in ({"overlap_seconds": -1}, {"overlap_seconds": 10**9}, {"overlap": 5}):
        bad = api.post(path.format("token_secret"), headers=headers, json=body)
        assert bad.status_code == 422, bad.text
        assert set(bad.json()) == {"error"}
    assert api.post(path.format("token_secret")).status_code == 401
    # Nothing above changed the key.
    assert api.get("/api/v1/tenant", headers=headers).status_code == 200


def test_user_tokens_and_hashes_of_the_old_token_secret_work_during_the_overlap(
    api: httpx.Client, create_tenant, stripe_client, portal_settings: Settings
) -> None:
    tenant = create_tenant()
    stripe_client.v1.customers.create(params={"email": "rot@example.com"})
    api.patch(
        "/api/v1/tenant", headers=auth(tenant["secret_key"]), json={"legacy_hash_enabled": True}
    )
    old_token = mint_user_token(tenant, email="rot@example.com")
    old_hash = legacy_hash("rot@example.com", tenant["token_secret"])
    rotated = rotate(api, tenant, "token_secret")
    assert rotated["secret"].startswith("bpts_")
    renewed = {**tenant, "token_secret": rotated["secret"]}
    new_hash = legacy_hash("rot@example.com", rotated["secret"])

    def opens(**identity: str) -> int:
        page = api.get("/w/invoices", params={"key": tenant["publishable_key"], **identity})
        return page.status_code

    assert opens(token=mint_user_token(renewed, email="rot@example.com")) == 200
    assert opens(token=old_token) == 200
    assert opens(email="rot@example.com", hash=old_hash) == 200
    assert opens(email="rot@example.com", hash=new_hash) == 200

    end_overlaps(portal_settings, tenant["id"])
    assert opens(token=old_token) == 401
    assert opens(email="rot@example.com", hash=old_hash) == 401
    assert opens(token=mint_user_token(renewed, email="rot@example.com")) == 200
    assert opens(email="rot@example.com", hash=new_hash) == 200


def test_callbacks_carry_both_signatures_during_the_overlap(
    api: httpx.Client, tenant, receiver: Receiver, portal_settings: Settings
) -> None:
    old = tenant["callback_secret"]
    new = rotate(api, tenant, "callback_secret", overlap_seconds=600)["secret"]
    assert new.startswith("whsec_") and new != old
    queue(portal_settings, tenant["id"], [("change_plan", "cus_rot")])
    work(portal_settings, Clock())
    [during] = receiver.received
    # Verified with the old secret by the receiver, and with the new one here.
    assert len(during["headers"]["webhook-signature"].split(" ")) == 2
    Webhook(new).verify(during["raw"], during["headers"])

    end_overlaps(portal_settings, tenant["id"])
    receiver.webhook = Webhook(new)
    queue(portal_settings, tenant["id"], [("change_plan", "cus_rot")])
    work(portal_settings, Clock())
    after = receiver.received[-1]
    assert len(after["headers"]["webhook-signature"].split(" ")) == 1
    with pytest.raises(WebhookVerificationError):
        Webhook(old).verify(after["raw"], after["headers"])
