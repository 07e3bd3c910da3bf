"""Webhook endpoints: ``/v1/webhook_endpoints``.

The signing secret is shown once, on creation, and kept in the endpoint's private data where
the delivery loop reads it.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from ..errors import InvalidRequest, missing
from ..listing import paginate
from ..params import apply_metadata
from ..routing import Request, route
from ..state import random_token
from .prices import metadata_for_create, reject_unknown, to_bool, to_text

MAX_ENDPOINTS = 16
_API_VERSION = re.compile(r"^\d{4}-\d{2}-\d{2}(\.[a-z]+)?$")
_CREATE_KEYS = {
    "api_version",
    "connect",
    "description",
    "enabled_events",
    "expand",
    "metadata",
    "url",
}
_UPDATE_KEYS = {"description", "disabled", "enabled_events", "expand", "metadata", "url"}

# Every event type Stripe lets an endpoint subscribe to (besides "*").
EVENT_TYPES = frozenset(
    """
account.application.authorized account.application.deauthorized
account.external_account.created account.external_account.deleted
account.external_account.updated account.updated
application_fee.created application_fee.refund.updated application_fee.refunded
apps.install.created apps.install.deleted apps.install.updated
balance.available
balance_settings.updated
billing.alert.triggered billing.credit_balance_transaction.created billing.credit_grant.created
billing.credit_grant.updated billing.meter.created billing.meter.deactivated
billing.meter.reactivated billing.meter.updated
billing_portal.configuration.created billing_portal.configuration.updated
billing_portal.session.created
capability.updated
cash_balance.funds_available
charge.captured charge.dispute.closed charge.dispute.created charge.dispute.funds_reinstated
charge.dispute.funds_withdrawn charge.dispute.updated charge.expired charge.failed
charge.pending charge.refund.updated charge.refunded charge.succeeded charge.updated
checkout.session.async_payment_failed checkout.session.async_payment_succeeded
checkout.session.completed checkout.session.expired
climate.order.canceled climate.order.created climate.order.delayed climate.order.delivered
climate.order.product_substituted climate.product.created climate.product.pricing_updated
coupon.created coupon.deleted coupon.updated
credit_note.created credit_note.updated credit_note.voided
customer.created customer.deleted customer.discount.created customer.discount.deleted
customer.discount.updated customer.source.created customer.source.deleted
customer.source.expiring customer.source.updated customer.subscription.created
customer.subscription.deleted customer.subscription.paused
customer.subscription.pending_update_applied customer.subscription.pending_update_expired
customer.subscription.resumed customer.subscription.trial_will_end
customer.subscription.updated customer.tax_id.created customer.tax_id.deleted
customer.tax_id.updated customer.updated
customer_cash_balance_transaction.created
entitlements.active_entitlement_summary.updated
file.created
financial_connections.account.account_numbers_updated financial_connections.account.created
financial_connections.account.deactivated financial_connections.account.disconnected
financial_connections.account.expected_deactivation_date_updated
financial_connections.account.reactivated financial_connections.account.refreshed_balance
financial_connections.account.refreshed_ownership
financial_connections.account.refreshed_transactions
financial_connections.account.supported_payment_method_types_updated
financial_connections.account.upcoming_account_number_expiry
financial_connections.account.upcoming_deactivation
financial_connections.authorization.expected_deactivation_date_updated
financial_connections.authorization.upcoming_deactivation
identity.verification_session.canceled identity.verification_session.created
identity.verification_session.processing identity.verification_session.redacted
identity.verification_session.requires_input identity.verification_session.verified
invoice.created invoice.deleted invoice.finalization_failed invoice.finalized
invoice.marked_uncollectible invoice.overdue invoice.overpaid invoice.paid
invoice.payment_action_required invoice.payment_attempt_required invoice.payment_failed
invoice.payment_succeeded invoice.sent invoice.upcoming invoice.updated invoice.voided
invoice.will_be_due
invoice_payment.paid
invoiceitem.created invoiceitem.deleted
issuing_authorization.created issuing_authorization.request issuing_authorization.updated
issuing_card.created issuing_card.updated
issuing_cardholder.created issuing_cardholder.updated
issuing_dispute.closed issuing_dispute.created issuing_dispute.funds_reinstated
issuing_dispute.funds_rescinded issuing_dispute.submitted issuing_dispute.updated
issuing_personalization_design.activated issuing_personalization_design.deactivated
issuing_personalization_design.rejected issuing_personalization_design.updated
issuing_token.created issuing_token.updated
issuing_transaction.created issuing_transaction.purchase_details_receipt_updated
issuing_transaction.updated
mandate.updated
payment_intent.amount_capturable_updated payment_intent.canceled payment_intent.created
payment_intent.partially_funded payment_intent.payment_failed payment_intent.processing
payment_intent.requires_action payment_intent.succeeded
payment_link.created payment_link.updated
payment_method.attached payment_method.automatically_updated payment_method.detached
payment_method.updated
payout.canceled payout.created payout.failed payout.paid payout.reconciliation_completed
payout.updated
person.created person.deleted person.updated
plan.created plan.deleted plan.updated
price.created price.deleted price.updated
product.created product.deleted product.updated
promotion_code.created promotion_code.updated
quote.accepted quote.canceled quote.created quote.finalized
radar.early_fraud_warning.created radar.early_fraud_warning.updated
refund.created refund.failed refund.updated
reporting.report_run.failed reporting.report_run.succeeded reporting.report_type.updated
reserve.hold.created reserve.hold.updated reserve.plan.created reserve.plan.disabled
reserve.plan.expired reserve.plan.updated reserve.release.created
review.closed review.opened
setup_intent.canceled setup_intent.created setup_intent.requires_action
setup_intent.setup_failed setup_intent.succeeded
sigma.scheduled_query_run.created
source.canceled source.chargeable source.failed source.mandate_notification
source.refund_attributes_required source.transaction.created source.transaction.updated
subscription_schedule.aborted subscription_schedule.canceled subscription_schedule.completed
subscription_schedule.created subscription_schedule.expiring subscription_schedule.released
subscription_schedule.updated
tax.settings.updated
tax_rate.created tax_rate.updated
terminal.reader.action_failed terminal.reader.action_succeeded terminal.reader.action_updated
test_helpers.test_clock.advancing test_helpers.test_clock.created
test_helpers.test_clock.deleted test_helpers.test_clock.internal_failure
test_helpers.test_clock.ready
three_d_secure.authentication.canceled three_d_secure.authentication.challenge_started
three_d_secure.authentication.errored three_d_secure.authentication.failed
three_d_secure.authentication.requires_challenge
three_d_secure.authentication.requires_submission three_d_secure.authentication.succeeded
topup.canceled topup.created topup.failed topup.reversed topup.succeeded
transfer.created transfer.reversed transfer.updated
treasury.credit_reversal.created treasury.credit_reversal.posted
treasury.debit_reversal.completed treasury.debit_reversal.created
treasury.debit_reversal.initial_credit_granted treasury.financial_account.closed
treasury.financial_account.created treasury.financial_account.features_status_updated
treasury.inbound_transfer.canceled treasury.inbound_transfer.created
treasury.inbound_transfer.failed treasury.inbound_transfer.succeeded
treasury.outbound_payment.canceled treasury.outbound_payment.created
treasury.outbound_payment.expected_arrival_date_updated treasury.outbound_payment.failed
treasury.outbound_payment.posted treasury.outbound_payment.returned
treasury.outbound_payment.tracking_details_updated treasury.outbound_transfer.canceled
treasury.outbound_transfer.created treasury.outbound_transfer.expected_arrival_date_updated
treasury.outbound_transfer.failed treasury.outbound_transfer.posted
treasury.outbound_transfer.returned treasury.outbound_transfer.tracking_details_updated
treasury.received_credit.created treasury.received_credit.failed
treasury.received_credit.succeeded treasury.received_debit.created
    """.split()
)


def _url(value: Any) -> str:
    url = to_text(value, "url", max_length=5000)
    assert url is not None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidRequest(
            f"Invalid URL: {url}. A webhook URL must be an absolute http:// or https:// URL.",
            code="url_invalid",
            param="url",
        )
    return url


def _enabled_events(value: Any) -> list[str]:
    if value in (None, "", []):
        raise missing("enabled_events")
    events = value if isinstance(value, list) else [value]
    for index, name in enumerate(events):
        if name != "*" and name not in EVENT_TYPES:
            raise InvalidRequest(
                f"Invalid enabled_events[{index}]: `{name}` is not a known event type; use one "
                "of Stripe's event types or `*`.",
                param=f"enabled_events[{index}]",
            )
    return list(dict.fromkeys(events))


@route("POST", "/v1/webhook_endpoints")
def create_webhook_endpoint(req: Request) -> dict[str, Any]:
    account = req.acct
    p = req.params
    reject_unknown(p, _CREATE_KEYS)
    if p.get("url") in (None, ""):
        raise missing("url")
    url = _url(p["url"])
    events = _enabled_events(p.get("enabled_events"))
    api_version = None
    if p.get("api_version") not in (None, ""):
        api_version = to_text(p["api_version"], "api_version", max_length=40)
        if api_version is None or not _API_VERSION.match(api_version):
            raise InvalidRequest(f"Invalid api_version: {api_version}", param="api_version")
    connect = to_bool(p["connect"], "connect") if p.get("connect") not in (None, "") else False
    if account.count("webhook_endpoint") >= MAX_ENDPOINTS:
        raise InvalidRequest(
            f"You have reached the maximum of {MAX_ENDPOINTS} test webhook endpoints."
        )
    description = None
    if p.get("description") is not None:
        description = to_text(p["description"], "description", unset=True)
    endpoint: dict[str, Any] = {
        "id": account.new_id("we"),
        "object": "webhook_endpoint",
        "api_version": api_version,
        "application": None,
        "created": account.now(),
        "description": description,
        "enabled_events": events,
        "livemode": False,
        "metadata": metadata_for_create(p),
        "status": "enabled",
        "url": url,
    }
    secret = "whsec_" + random_token(32)
    account.add(endpoint)
    account.secret(endpoint["id"]).update({"secret": secret, "connect": connect})
    return {**endpoint, "secret": secret}


@route("GET", "/v1/webhook_endpoints/{id}")
def retrieve_webhook_endpoint(req: Request) -> dict[str, Any]:
    return req.acct.get("webhook_endpoint", req.path_params["id"])


@route("POST", "/v1/webhook_endpoints/{id}")
def update_webhook_endpoint(req: Request) -> dict[str, Any]:
    endpoint = req.acct.get("webhook_endpoint", req.path_params["id"])
    p = req.params
    reject_unknown(p, _UPDATE_KEYS)
    changes: dict[str, Any] = {}
    if "url" in p:
        changes["url"] = _url(p["url"])
    if "enabled_events" in p:
        changes["enabled_events"] = _enabled_events(p["enabled_events"])
    if "description" in p:
        changes["description"] = to_text(p["description"], "description", unset=True)
    if p.get("disabled") not in (None, ""):
        changes["status"] = "disabled" if to_bool(p["disabled"], "disabled") else "enabled"
    changes["metadata"] = apply_metadata(endpoint["metadata"], p)
    endpoint.update(changes)
    return endpoint


@route("DELETE", "/v1/webhook_endpoints/{id}")
def delete_webhook_endpoint(req: Request) -> dict[str, Any]:
    endpoint = req.acct.get("webhook_endpoint", req.path_params["id"])
    # Pending deliveries find the endpoint gone and are dropped by the sender.
    req.acct.remove(endpoint["id"])
    return {"id": endpoint["id"], "object": "webhook_endpoint", "deleted": True}


@route("GET", "/v1/webhook_endpoints")
def list_webhook_endpoints(req: Request) -> dict[str, Any]:
    return paginate(req.acct.newest_first("webhook_endpoint"), req.params, "/v1/webhook_endpoints")
