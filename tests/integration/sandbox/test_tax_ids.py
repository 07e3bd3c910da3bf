from __future__ import annotations

import pytest
import stripe


def test_tax_ids_of_a_customer(stripe_client: stripe.StripeClient) -> None:
    customer = stripe_client.v1.customers.create(params={"email": "vat@example.com"})
    other = stripe_client.v1.customers.create(params={"email": "other@example.com"})
    created = stripe_client.v1.customers.tax_ids.create(
        customer.id, params={"type": "eu_vat", "value": "DE123456789"}
    )
    assert created.id.startswith("txi_")
    assert created.country == "DE"
    assert created.verification.status == "verified"
    listed = stripe_client.v1.customers.tax_ids.list(customer.id)
    assert [t.id for t in listed.data] == [created.id]
    assert stripe_client.v1.customers.tax_ids.list(other.id).data == []
    with pytest.raises(stripe.InvalidRequestError) as caught:
        stripe_client.v1.customers.tax_ids.retrieve(other.id, created.id)
    assert caught.value.http_status == 404
    assert stripe_client.v1.customers.tax_ids.delete(customer.id, created.id).deleted is True
    assert stripe_client.v1.customers.tax_ids.list(customer.id).data == []


@pytest.mark.parametrize(
    ("kind", "value"), [("eu_vat", "XX12"), ("gb_vat", "GB12"), ("us_ein", "12-34"), ("eu", "1")]
)
def test_malformed_numbers_are_refused_like_stripe(
    stripe_client: stripe.StripeClient, kind: str, value: str
) -> None:
    customer = stripe_client.v1.customers.create(params={"email": "bad@example.com"})
    with pytest.raises(stripe.InvalidRequestError) as caught:
        stripe_client.v1.customers.tax_ids.create(
            customer.id, params={"type": kind, "value": value}
        )
    assert caught.value.param in {"value", "type"}
