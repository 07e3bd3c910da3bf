"""Which Stripe customer an identity means, in the tenant's own Stripe account."""

from __future__ import annotations

import stripe

from portal.errors import Forbidden
from portal.stripe_gateway import map_stripe_error, stripe_call


async def resolve_customer(
    client: stripe.StripeClient, *, customer_id: str | None, email: str | None
) -> str | None:
    """The customer id to act for, or None when an email has no customer yet.

    A ``customer_id`` must exist (and not be deleted) in this Stripe account: a token naming
    another account's customer reads and changes nothing.
    """
    if customer_id is not None:
        try:
            customer = await client.v1.customers.retrieve_async(customer_id)
        except stripe.StripeError as exc:
            if isinstance(exc, stripe.InvalidRequestError) and exc.http_status == 404:
                raise _not_in_account(customer_id) from None
            raise map_stripe_error(exc) from exc
        if getattr(customer, "deleted", False):
            raise _not_in_account(customer_id)
        return customer_id
    assert email is not None
    found = await stripe_call(client.v1.customers.list_async(params={"email": email, "limit": 1}))
    return found.data[0].id if found.data else None


def _not_in_account(customer_id: str) -> Forbidden:
    return Forbidden(
        f"Customer {customer_id} is not a customer of this tenant's Stripe account.",
        code="customer_not_in_account",
    )
