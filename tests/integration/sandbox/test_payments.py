from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import stripe

from portal.sandbox import SandboxApp
from portal.sandbox.resources import payment_intents

VISA = {"number": "4242424242424242", "exp_month": "12", "exp_year": "2034", "cvc": "123"}
DECLINE = {**VISA, "number": "4000000000000002"}
THREE_D_SECURE = {**VISA, "number": "4000002500003155"}
FAILS_LATER = {**VISA, "number": "4000000000000341"}

ClientFactory = Callable[[str], stripe.StripeClient]


@pytest.fixture
def publishable(make_stripe_client: ClientFactory, sandbox_account: str) -> stripe.StripeClient:
    return make_stripe_client(f"pk_test_{sandbox_account}")


@pytest.fixture
def succeeded_hook_calls() -> Iterator[list[str]]:
    """Ids of the PaymentIntents the sandbox reports as succeeding later."""
    calls: list[str] = []

    def record(state: Any, account: Any, intent: dict[str, Any]) -> None:
        calls.append(intent["id"])

    payment_intents.on_payment_intent_succeeded.append(record)
    yield calls
    payment_intents.on_payment_intent_succeeded.remove(record)


def authenticate(
    sandbox_url: str, account: str, intent: Any, outcome: str, kind: str = "payment_intents"
) -> dict[str, Any]:
    """What the Stripe.js stand-in does when the customer answers the 3D Secure dialog."""
    answer = httpx.post(
        f"{sandbox_url}/v1/{kind}/{intent.id}/_sandbox_authenticate",
        headers={"Authorization": f"Bearer pk_test_{account}"},
        data={"client_secret": intent.client_secret, "outcome": outcome},
    )
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def event_types(client: stripe.StripeClient, pattern: str) -> list[str]:
    """The types of the account's events matching ``pattern``, oldest first."""
    events = client.v1.events.list(params={"type": pattern, "limit": 100})
    return [event.type for event in reversed(events.data)]


# -- payment methods ---------------------------------------------------------------------------
def test_publishable_key_creates_a_card_payment_method(
    publishable: stripe.StripeClient, stripe_client: stripe.StripeClient
) -> None:
    pm = publishable.v1.payment_methods.create(
        params={
            "type": "card",
            "card": VISA,
            "billing_details": {"name": "Ada Lovelace", "address": {"postal_code": "94103"}},
        }
    )
    assert pm.id.startswith("pm_")
    assert pm.card is not None
    assert (pm.card.brand, pm.card.last4, pm.card.exp_month, pm.card.exp_year) == (
        "visa",
        "4242",
        12,
        2034,
    )
    assert (pm.card.funding, pm.card.country) == ("credit", "US")
    assert len(pm.card.fingerprint or "") == 16
    assert pm.billing_details.name == "Ada Lovelace"
    assert pm.billing_details.address is not None
    assert pm.billing_details.address.postal_code == "94103"
    assert pm.customer is None
    # The number itself never comes back.
    assert "4242424242424242" not in str(stripe_client.v1.payment_methods.retrieve(pm.id))

    again = publishable.v1.payment_methods.create(params={"type": "card", "card": VISA})
    assert again.card is not None
    assert again.card.fingerprint == pm.card.fingerprint


def test_publishable_key_cannot_read_payment_methods_or_customers(
    publishable: stripe.StripeClient,
) -> None:
    pm = publishable.v1.payment_methods.create(params={"type": "card", "card": VISA})
    with pytest.raises(stripe.AuthenticationError):
        publishable.v1.payment_methods.retrieve(pm.id)
    with pytest.raises(stripe.AuthenticationError):
        publishable.v1.customers.list()
    with pytest.raises(stripe.AuthenticationError):
        publishable.v1.payment_intents.create(params={"amount": 500, "currency": "usd"})


@pytest.mark.parametrize(
    ("card", "code", "param"),
    [
        ({**VISA, "number": "4242424242424241"}, "incorrect_number", "card[number]"),
        ({**VISA, "number": "4242"}, "invalid_number", "card[number]"),
        ({**VISA, "exp_year": "2001"}, "invalid_expiry_year", "card[exp_year]"),
        ({**VISA, "exp_month": "13"}, "invalid_expiry_month", "card[exp_month]"),
        ({**VISA, "cvc": "12"}, "invalid_cvc", "card[cvc]"),
    ],
)
def test_invalid_cards_are_refused_like_stripe(
    publishable: stripe.StripeClient, card: dict[str, str], code: str, param: str
) -> None:
    with pytest.raises(stripe.CardError) as caught:
        publishable.v1.payment_methods.create(params={"type": "card", "card": card})
    assert caught.value.http_status == 402
    assert caught.value.code == code
    assert caught.value.param == param


def test_two_digit_expiry_years_are_accepted(publishable: stripe.StripeClient) -> None:
    pm = publishable.v1.payment_methods.create(
        params={"type": "card", "card": {**VISA, "exp_year": "34"}}
    )
    assert pm.card is not None
    assert pm.card.exp_year == 2034


def test_attach_list_update_and_detach(stripe_client: stripe.StripeClient) -> None:
    customer = stripe_client.v1.customers.create(params={"email": "pm@example.com"})
    pm = stripe_client.v1.payment_methods.create(params={"type": "card", "card": VISA})
    other = stripe_client.v1.payment_methods.create(params={"type": "card", "card": VISA})

    with pytest.raises(stripe.InvalidRequestError):
        stripe_client.v1.payment_methods.update(pm.id, params={"metadata": {"a": "b"}})

    attached = stripe_client.v1.payment_methods.attach(pm.id, params={"customer": customer.id})
    assert attached.customer == customer.id
    assert attached.card is not None
    assert attached.card.checks is not None
    assert attached.card.checks.cvc_check == "pass"

    listed = stripe_client.v1.customers.payment_methods.list(customer.id, params={"type": "card"})
    assert [p.id for p in listed.data] == [pm.id]
    by_filter = stripe_client.v1.payment_methods.list(params={"customer": customer.id})
    assert [p.id for p in by_filter.data] == [pm.id]
    assert other.id not in [p.id for p in by_filter.data]

    updated = stripe_client.v1.payment_methods.update(
        pm.id,
        params={"billing_details": {"name": "Grace"}, "metadata": {"nickname": "work"}},
    )
    assert updated.billing_details.name == "Grace"
    assert updated.metadata is not None
    assert updated.metadata.to_dict() == {"nickname": "work"}

    stripe_client.v1.customers.update(
        customer.id, params={"invoice_settings": {"default_payment_method": pm.id}}
    )
    detached = stripe_client.v1.payment_methods.detach(pm.id)
    assert detached.customer is None
    assert stripe_client.v1.customers.payment_methods.list(customer.id).data == []
    refreshed = stripe_client.v1.customers.retrieve(customer.id)
    assert refreshed.invoice_settings is not None
    assert refreshed.invoice_settings.default_payment_method is None
    with pytest.raises(stripe.InvalidRequestError):
        stripe_client.v1.payment_methods.detach(pm.id)
    assert event_types(stripe_client, "payment_method.*") == [
        "payment_method.attached",
        "payment_method.updated",
        "payment_method.detached",
    ]


def test_declining_card_cannot_be_attached(stripe_client: stripe.StripeClient) -> None:
    customer = stripe_client.v1.customers.create()
    pm = stripe_client.v1.payment_methods.create(params={"type": "card", "card": DECLINE})
    with pytest.raises(stripe.CardError) as caught:
        stripe_client.v1.payment_methods.attach(pm.id, params={"customer": customer.id})
    assert caught.value.code == "card_declined"
    assert caught.value.error is not None
    assert caught.value.error.decline_code == "generic_decline"
    with pytest.raises(stripe.CardError):
        stripe_client.v1.payment_methods.attach(
            "pm_card_visa_chargeDeclined", params={"customer": customer.id}
        )
    assert stripe_client.v1.customers.payment_methods.list(customer.id).data == []


@pytest.mark.parametrize(
    ("test_id", "brand", "last4"),
    [
        ("pm_card_visa", "visa", "4242"),
        ("pm_card_mastercard", "mastercard", "4444"),
        ("pm_card_authenticationRequired", "visa", "3155"),
        ("pm_card_chargeCustomerFail", "visa", "0341"),
    ],
)
def test_test_payment_method_ids_attach_as_fresh_copies(
    stripe_client: stripe.StripeClient, test_id: str, brand: str, last4: str
) -> None:
    customer = stripe_client.v1.customers.create()
    first = stripe_client.v1.payment_methods.attach(test_id, params={"customer": customer.id})
    second = stripe_client.v1.payment_methods.attach(test_id, params={"customer": customer.id})
    assert first.id.startswith("pm_") and first.id != test_id and first.id != second.id
    assert first.card is not None
    assert (first.card.brand, first.card.last4) == (brand, last4)
    listed = stripe_client.v1.customers.payment_methods.list(customer.id)
    assert {p.id for p in listed.data} == {first.id, second.id}


def test_customer_created_with_a_test_payment_method(stripe_client: stripe.StripeClient) -> None:
    customer = stripe_client.v1.customers.create(params={"payment_method": "pm_card_visa"})
    [pm] = stripe_client.v1.customers.payment_methods.list(customer.id).data
    assert pm.customer == customer.id


# -- setup intents -----------------------------------------------------------------------------
def test_setup_intent_confirmed_in_the_browser_attaches_the_card(
    stripe_client: stripe.StripeClient, publishable: stripe.StripeClient
) -> None:
    customer = stripe_client.v1.customers.create()
    intent = stripe_client.v1.setup_intents.create(
        params={"customer": customer.id, "automatic_payment_methods": {"enabled": True}}
    )
    assert intent.status == "requires_payment_method"
    assert intent.client_secret is not None
    assert intent.client_secret.startswith(intent.id + "_secret_")
    assert intent.usage == "off_session"

    with pytest.raises(stripe.InvalidRequestError) as caught:
        publishable.v1.setup_intents.retrieve(intent.id)
    assert caught.value.param == "client_secret"
    with pytest.raises(stripe.InvalidRequestError):
        publishable.v1.setup_intents.retrieve(intent.id, params={"client_secret": "seti_x"})
    seen = publishable.v1.setup_intents.retrieve(
        intent.id, params={"client_secret": intent.client_secret}
    )
    assert seen.status == "requires_payment_method"

    confirmed = publishable.v1.setup_intents.confirm(
        intent.id,
        params={
            "client_secret": intent.client_secret,
            "payment_method_data": {"type": "card", "card": VISA},
        },
    )
    assert confirmed.status == "succeeded"
    assert isinstance(confirmed.payment_method, str)
    pm = stripe_client.v1.payment_methods.retrieve(confirmed.payment_method)
    assert pm.customer == customer.id

    with pytest.raises(stripe.InvalidRequestError) as again:
        stripe_client.v1.setup_intents.confirm(intent.id)
    assert again.value.code == "setup_intent_unexpected_state"


def test_setup_intent_create_and_confirm_on_the_server(stripe_client: stripe.StripeClient) -> None:
    customer = stripe_client.v1.customers.create()
    pm = stripe_client.v1.payment_methods.create(params={"type": "card", "card": VISA})
    intent = stripe_client.v1.setup_intents.create(
        params={
            "customer": customer.id,
            "payment_method": pm.id,
            "usage": "on_session",
            "payment_method_types": ["card"],
        }
    )
    assert intent.status == "requires_confirmation"
    assert intent.payment_method_types == ["card"]
    assert intent.automatic_payment_methods is None
    updated = stripe_client.v1.setup_intents.update(
        intent.id, params={"metadata": {"order": "7"}, "description": "Save card"}
    )
    assert updated.description == "Save card"
    done = stripe_client.v1.setup_intents.confirm(intent.id)
    assert done.status == "succeeded"
    assert done.latest_attempt is not None
    assert stripe_client.v1.payment_methods.retrieve(pm.id).customer == customer.id

    immediate = stripe_client.v1.setup_intents.create(
        params={"customer": customer.id, "payment_method": "pm_card_mastercard", "confirm": True}
    )
    assert immediate.status == "succeeded"
    listed = stripe_client.v1.setup_intents.list(params={"customer": customer.id})
    assert [i.id for i in listed.data] == [immediate.id, intent.id]


def test_setup_intent_decline(
    stripe_client: stripe.StripeClient, publishable: stripe.StripeClient
) -> None:
    customer = stripe_client.v1.customers.create()
    intent = stripe_client.v1.setup_intents.create(params={"customer": customer.id})
    with pytest.raises(stripe.CardError) as caught:
        publishable.v1.setup_intents.confirm(
            intent.id,
            params={
                "client_secret": intent.client_secret,
                "payment_method_data": {"type": "card", "card": DECLINE},
            },
        )
    assert caught.value.http_status == 402
    assert caught.value.code == "card_declined"
    assert caught.value.error is not None
    assert caught.value.error.setup_intent is not None
    assert caught.value.error.setup_intent.id == intent.id

    failed = stripe_client.v1.setup_intents.retrieve(intent.id)
    assert failed.status == "requires_payment_method"
    assert failed.payment_method is None
    assert failed.last_setup_error is not None
    assert failed.last_setup_error.code == "card_declined"
    assert failed.last_setup_error.decline_code == "generic_decline"
    assert stripe_client.v1.customers.payment_methods.list(customer.id).data == []

    retried = publishable.v1.setup_intents.confirm(
        intent.id,
        params={
            "client_secret": intent.client_secret,
            "payment_method_data": {"type": "card", "card": VISA},
        },
    )
    assert retried.status == "succeeded"
    assert retried.last_setup_error is None
    assert event_types(stripe_client, "setup_intent.*") == [
        "setup_intent.created",
        "setup_intent.setup_failed",
        "setup_intent.succeeded",
    ]


@pytest.mark.parametrize(
    ("outcome", "status"), [("complete", "succeeded"), ("fail", "requires_payment_method")]
)
def test_setup_intent_three_d_secure(
    stripe_client: stripe.StripeClient,
    publishable: stripe.StripeClient,
    sandbox_url: str,
    sandbox_account: str,
    outcome: str,
    status: str,
) -> None:
    customer = stripe_client.v1.customers.create()
    intent = stripe_client.v1.setup_intents.create(params={"customer": customer.id})
    pending = publishable.v1.setup_intents.confirm(
        intent.id,
        params={
            "client_secret": intent.client_secret,
            "payment_method_data": {"type": "card", "card": THREE_D_SECURE},
        },
    )
    assert pending.status == "requires_action"
    assert pending.next_action is not None
    assert pending.next_action.type == "use_stripe_sdk"

    answered = authenticate(sandbox_url, sandbox_account, pending, outcome, "setup_intents")
    assert answered["status"] == status
    final = stripe_client.v1.setup_intents.retrieve(intent.id)
    assert final.status == status
    last = "setup_intent.succeeded" if outcome == "complete" else "setup_intent.setup_failed"
    assert event_types(stripe_client, "setup_intent.*") == [
        "setup_intent.created",
        "setup_intent.requires_action",
        last,
    ]
    attached = stripe_client.v1.customers.payment_methods.list(customer.id).data
    if outcome == "complete":
        assert [pm.id for pm in attached] == [final.payment_method]
    else:
        assert attached == []
        assert final.last_setup_error is not None
        assert final.last_setup_error.code == "setup_intent_authentication_failure"


def test_setup_intent_cancel(stripe_client: stripe.StripeClient) -> None:
    intent = stripe_client.v1.setup_intents.create()
    canceled = stripe_client.v1.setup_intents.cancel(
        intent.id, params={"cancellation_reason": "abandoned"}
    )
    assert (canceled.status, canceled.cancellation_reason) == ("canceled", "abandoned")
    with pytest.raises(stripe.InvalidRequestError):
        stripe_client.v1.setup_intents.cancel(intent.id)


# -- payment intents ---------------------------------------------------------------------------
def test_payment_intent_confirmed_with_the_client_secret(
    stripe_client: stripe.StripeClient,
    publishable: stripe.StripeClient,
    succeeded_hook_calls: list[str],
) -> None:
    customer = stripe_client.v1.customers.create()
    intent = stripe_client.v1.payment_intents.create(
        params={
            "amount": 2000,
            "currency": "usd",
            "customer": customer.id,
            "description": "Pro plan",
            "metadata": {"order": "42"},
            "setup_future_usage": "off_session",
            "automatic_payment_methods": {"enabled": True},
        }
    )
    assert intent.status == "requires_payment_method"
    assert intent.client_secret is not None
    assert intent.client_secret.startswith(intent.id + "_secret_")
    with pytest.raises(stripe.InvalidRequestError):
        publishable.v1.payment_intents.retrieve(intent.id)

    paid = publishable.v1.payment_intents.confirm(
        intent.id,
        params={
            "client_secret": intent.client_secret,
            "payment_method_data": {"type": "card", "card": VISA},
        },
    )
    assert paid.status == "succeeded"
    assert paid.amount_received == 2000
    assert isinstance(paid.latest_charge, str) and paid.latest_charge.startswith("ch_")
    assert succeeded_hook_calls == [intent.id]
    assert isinstance(paid.payment_method, str)
    assert stripe_client.v1.payment_methods.retrieve(paid.payment_method).customer == customer.id

    with pytest.raises(stripe.InvalidRequestError) as caught:
        stripe_client.v1.payment_intents.confirm(intent.id)
    assert caught.value.code == "payment_intent_unexpected_state"
    with pytest.raises(stripe.InvalidRequestError):
        stripe_client.v1.payment_intents.cancel(intent.id)


def test_payment_intent_decline_returns_the_intent_in_the_error(
    stripe_client: stripe.StripeClient, publishable: stripe.StripeClient
) -> None:
    intent = stripe_client.v1.payment_intents.create(params={"amount": 900, "currency": "eur"})
    with pytest.raises(stripe.CardError) as caught:
        publishable.v1.payment_intents.confirm(
            intent.id,
            params={
                "client_secret": intent.client_secret,
                "payment_method_data": {"type": "card", "card": DECLINE},
            },
        )
    assert caught.value.code == "card_declined"
    assert caught.value.error is not None
    assert caught.value.error.payment_intent is not None
    assert caught.value.error.payment_intent.status == "requires_payment_method"
    failed = stripe_client.v1.payment_intents.retrieve(intent.id)
    assert failed.last_payment_error is not None
    assert failed.last_payment_error.decline_code == "generic_decline"
    assert failed.last_payment_error.payment_method is not None
    assert failed.payment_method is None


@pytest.mark.parametrize(
    ("outcome", "status"), [("complete", "succeeded"), ("fail", "requires_payment_method")]
)
def test_payment_intent_three_d_secure(
    stripe_client: stripe.StripeClient,
    publishable: stripe.StripeClient,
    sandbox_url: str,
    sandbox_account: str,
    succeeded_hook_calls: list[str],
    outcome: str,
    status: str,
) -> None:
    customer = stripe_client.v1.customers.create()
    intent = stripe_client.v1.payment_intents.create(
        params={
            "amount": 1500,
            "currency": "usd",
            "customer": customer.id,
            "payment_method": "pm_card_authenticationRequired",
            "confirm": True,
        }
    )
    assert intent.status == "requires_action"
    assert intent.next_action is not None
    assert intent.next_action.type == "use_stripe_sdk"
    assert succeeded_hook_calls == []

    answered = authenticate(sandbox_url, sandbox_account, intent, outcome)
    assert answered["status"] == status
    final = stripe_client.v1.payment_intents.retrieve(intent.id)
    assert final.status == status
    last = "payment_intent.succeeded" if outcome == "complete" else "payment_intent.payment_failed"
    assert event_types(stripe_client, "payment_intent.*") == [
        "payment_intent.created",
        "payment_intent.requires_action",
        last,
    ]
    if outcome == "complete":
        assert succeeded_hook_calls == [intent.id]
    else:
        assert succeeded_hook_calls == []
        assert final.last_payment_error is not None
        assert final.last_payment_error.code == "payment_intent_authentication_failure"


def test_authenticate_needs_the_client_secret_and_a_pending_challenge(
    stripe_client: stripe.StripeClient, sandbox_url: str, sandbox_account: str
) -> None:
    intent = stripe_client.v1.payment_intents.create(
        params={"amount": 700, "currency": "usd", "payment_method": "pm_card_visa"}
    )
    url = f"{sandbox_url}/v1/payment_intents/{intent.id}/_sandbox_authenticate"
    headers = {"Authorization": f"Bearer pk_test_{sandbox_account}"}
    wrong = httpx.post(url, headers=headers, data={"client_secret": "nope", "outcome": "complete"})
    assert wrong.status_code == 400
    assert wrong.json()["error"]["param"] == "client_secret"
    early = httpx.post(
        url, headers=headers, data={"client_secret": intent.client_secret, "outcome": "complete"}
    )
    assert early.status_code == 400
    assert early.json()["error"]["code"] == "payment_intent_unexpected_state"


OFF_SESSION_OUTCOMES = [
    ("pm_card_visa", "succeeded", None),
    ("pm_card_visa_chargeDeclined", "requires_payment_method", "card_declined"),
    ("pm_card_authenticationRequired", "requires_payment_method", "authentication_required"),
    ("pm_card_chargeCustomerFail", "requires_payment_method", "card_declined"),
]


@pytest.mark.parametrize(("test_id", "status", "code"), OFF_SESSION_OUTCOMES)
def test_off_session_payment_intent_for_each_card_behaviour(
    stripe_client: stripe.StripeClient, test_id: str, status: str, code: str | None
) -> None:
    customer = stripe_client.v1.customers.create()
    params: dict[str, Any] = {
        "amount": 3000,
        "currency": "usd",
        "customer": customer.id,
        "payment_method": test_id,
        "confirm": True,
        "off_session": True,
    }
    if code is None:
        intent = stripe_client.v1.payment_intents.create(params=params)
    else:
        with pytest.raises(stripe.CardError) as caught:
            stripe_client.v1.payment_intents.create(params=params)
        assert caught.value.code == code
        assert caught.value.error is not None
        assert caught.value.error.payment_intent is not None
        intent = stripe_client.v1.payment_intents.retrieve(caught.value.error.payment_intent.id)
    assert intent.status == status
    if code is not None:
        assert intent.last_payment_error is not None
        assert intent.last_payment_error.code == code


@pytest.mark.parametrize(
    ("test_id", "off_session", "status", "code"),
    [
        *[(t, True, s, c) for t, s, c in OFF_SESSION_OUTCOMES],
        ("pm_card_authenticationRequired", False, "requires_action", None),
        (None, True, "requires_payment_method", "payment_intent_unexpected_state"),
    ],
)
def test_charge_for_invoices(
    sandbox_app: SandboxApp,
    stripe_client: stripe.StripeClient,
    sandbox_account: str,
    succeeded_hook_calls: list[str],
    test_id: str | None,
    off_session: bool,
    status: str,
    code: str | None,
) -> None:
    customer = stripe_client.v1.customers.create()
    state = sandbox_app.state
    result = payment_intents.charge(
        state,
        state.account(sandbox_account),
        customer_id=customer.id,
        amount=1234,
        currency="usd",
        payment_method_id=test_id,
        off_session=off_session,
        description="Invoice 1",
        metadata={"invoice": "in_1"},
    )
    intent = stripe_client.v1.payment_intents.retrieve(result["id"])
    assert (intent.status, intent.customer, intent.amount) == (status, customer.id, 1234)
    assert intent.metadata is not None
    assert intent.metadata.to_dict() == {"invoice": "in_1"}
    assert succeeded_hook_calls == []
    if code is None:
        assert intent.last_payment_error is None
    else:
        assert intent.last_payment_error is not None
        assert intent.last_payment_error.code == code
        assert intent.last_payment_error.message


def test_card_set_up_with_three_d_secure_pays_off_session(
    stripe_client: stripe.StripeClient, sandbox_url: str, sandbox_account: str
) -> None:
    customer = stripe_client.v1.customers.create()
    setup = stripe_client.v1.setup_intents.create(
        params={
            "customer": customer.id,
            "payment_method": "pm_card_authenticationRequired",
            "confirm": True,
        }
    )
    assert setup.status == "requires_action"
    assert authenticate(sandbox_url, sandbox_account, setup, "complete", "setup_intents")[
        "status"
    ] == ("succeeded")
    done = stripe_client.v1.setup_intents.retrieve(setup.id)
    payment = stripe_client.v1.payment_intents.create(
        params={
            "amount": 5000,
            "currency": "usd",
            "customer": customer.id,
            "payment_method": done.payment_method,
            "confirm": True,
            "off_session": True,
        }
    )
    assert payment.status == "succeeded"


def test_payment_intent_update_cancel_and_list(stripe_client: stripe.StripeClient) -> None:
    customer = stripe_client.v1.customers.create()
    first = stripe_client.v1.payment_intents.create(
        params={"amount": 1000, "currency": "usd", "customer": customer.id}
    )
    second = stripe_client.v1.payment_intents.create(
        params={"amount": 2000, "currency": "usd", "customer": customer.id}
    )
    stripe_client.v1.payment_intents.create(params={"amount": 3000, "currency": "usd"})

    updated = stripe_client.v1.payment_intents.update(
        first.id,
        params={"amount": 1100, "payment_method": "pm_card_visa", "metadata": {"k": "v"}},
    )
    assert (updated.amount, updated.status) == (1100, "requires_confirmation")
    confirmed = stripe_client.v1.payment_intents.confirm(first.id)
    assert confirmed.status == "succeeded"
    with pytest.raises(stripe.InvalidRequestError):
        stripe_client.v1.payment_intents.update(first.id, params={"amount": 1})

    canceled = stripe_client.v1.payment_intents.cancel(
        second.id, params={"cancellation_reason": "requested_by_customer"}
    )
    assert canceled.status == "canceled"
    assert canceled.canceled_at is not None
    assert "payment_intent.canceled" in event_types(stripe_client, "payment_intent.*")

    listed = stripe_client.v1.payment_intents.list(params={"customer": customer.id})
    assert [i.id for i in listed.data] == [second.id, first.id]


def test_payment_intent_validation(stripe_client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as small:
        stripe_client.v1.payment_intents.create(params={"amount": 10, "currency": "usd"})
    assert small.value.code == "amount_too_small"
    with pytest.raises(stripe.InvalidRequestError) as missing:
        stripe_client.v1.payment_intents.create(params={"currency": "usd"})
    assert missing.value.param == "amount"
    intent = stripe_client.v1.payment_intents.create(params={"amount": 500, "currency": "usd"})
    with pytest.raises(stripe.InvalidRequestError) as no_pm:
        stripe_client.v1.payment_intents.confirm(intent.id)
    assert no_pm.value.code == "payment_intent_unexpected_state"


def test_cors_lets_browsers_call_the_api(sandbox_url: str, sandbox_account: str) -> None:
    preflight = httpx.options(
        f"{sandbox_url}/v1/payment_methods",
        headers={
            "Origin": "http://shop.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
        },
    )
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == "*"
    assert "authorization" in preflight.headers["access-control-allow-headers"].lower()
    answer = httpx.post(
        f"{sandbox_url}/v1/payment_methods",
        headers={"Authorization": f"Bearer pk_test_{sandbox_account}"},
        data={"type": "card", **{f"card[{k}]": v for k, v in VISA.items()}},
    )
    assert answer.status_code == 200
    assert answer.headers["access-control-allow-origin"] == "*"
