from __future__ import annotations

import httpx
import pytest
import stripe


def test_customer_lifecycle_through_the_sdk(stripe_client: stripe.StripeClient) -> None:
    customer = stripe_client.v1.customers.create(
        params={"email": "ada@example.com", "metadata": {"plan": "pro", "team": "a"}}
    )
    assert customer.id.startswith("cus_")
    assert customer.metadata.to_dict() == {"plan": "pro", "team": "a"}

    updated = stripe_client.v1.customers.update(
        customer.id, params={"name": "Ada", "metadata": {"team": ""}}
    )
    assert updated.name == "Ada"
    assert updated.metadata.to_dict() == {"plan": "pro"}

    found = stripe_client.v1.customers.list(params={"email": "ada@example.com"})
    assert [c.id for c in found.data] == [customer.id]

    deleted = stripe_client.v1.customers.delete(customer.id)
    assert deleted.deleted is True
    assert stripe_client.v1.customers.retrieve(customer.id).deleted is True


def test_lists_are_newest_first_and_paginate(stripe_client: stripe.StripeClient) -> None:
    ids = [stripe_client.v1.customers.create(params={"name": str(i)}).id for i in range(5)]
    first = stripe_client.v1.customers.list(params={"limit": 2})
    assert [c.id for c in first.data] == ids[::-1][:2]
    assert first.has_more is True
    rest = stripe_client.v1.customers.list(
        params={"limit": 10, "starting_after": first.data[-1].id}
    )
    assert [c.id for c in rest.data] == ids[::-1][2:]
    assert rest.has_more is False
    every = [c.id for c in stripe_client.v1.customers.list(params={"limit": 2}).auto_paging_iter()]
    assert every == ids[::-1]


def test_accounts_are_isolated(make_stripe_client, sandbox_account: str) -> None:
    mine = make_stripe_client(f"sk_test_{sandbox_account}")
    theirs = make_stripe_client(f"sk_test_{sandbox_account}x")
    customer = mine.v1.customers.create(params={"email": "x@example.com"})
    with pytest.raises(stripe.InvalidRequestError) as caught:
        theirs.v1.customers.retrieve(customer.id)
    assert caught.value.http_status == 404
    assert caught.value.code == "resource_missing"
    assert theirs.v1.customers.list(params={"email": "x@example.com"}).data == []


def test_unknown_key_is_rejected_like_stripe(make_stripe_client) -> None:
    with pytest.raises(stripe.AuthenticationError) as caught:
        make_stripe_client("sk_live_nope").v1.customers.list()
    assert caught.value.http_status == 401


def test_publishable_key_cannot_read_customers(make_stripe_client, sandbox_account) -> None:
    with pytest.raises(stripe.AuthenticationError):
        make_stripe_client(f"pk_test_{sandbox_account}").v1.customers.list()


def test_idempotent_retry_returns_the_first_result(stripe_client: stripe.StripeClient) -> None:
    options: stripe.RequestOptions = {"idempotency_key": "signup-42"}
    first = stripe_client.v1.customers.create(params={"email": "i@example.com"}, options=options)
    again = stripe_client.v1.customers.create(params={"email": "i@example.com"}, options=options)
    assert again.id == first.id
    assert len(stripe_client.v1.customers.list(params={"email": "i@example.com"}).data) == 1
    with pytest.raises(stripe.IdempotencyError):
        stripe_client.v1.customers.create(params={"email": "other@example.com"}, options=options)


def test_bad_parameters_get_stripe_error_bodies(sandbox_url: str, sandbox_account: str) -> None:
    answer = httpx.post(
        f"{sandbox_url}/v1/customers",
        headers={"Authorization": f"Bearer sk_test_{sandbox_account}"},
        content=b"email=not-an-email",
    )
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["param"] == "email"
    missing = httpx.get(
        f"{sandbox_url}/v1/nothing-here",
        headers={"Authorization": f"Bearer sk_test_{sandbox_account}"},
    )
    assert missing.status_code == 404
    assert "Unrecognized request URL" in missing.json()["error"]["message"]
