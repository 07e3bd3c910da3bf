"""``POST /stripe/webhooks/{tenant_id}``: verify, store once, acknowledge.

Nothing is processed here and Stripe is never called: the event is inserted (once, whatever
the number of deliveries) and the worker acts on it later, so Stripe gets its answer in
milliseconds and a slow tenant endpoint or Stripe API never makes Stripe retry.
"""

from __future__ import annotations

import json
from typing import Any

import stripe
from litestar import Request, post
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.params import FromPath
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from portal.db import utcnow
from portal.errors import BadRequest, NotFound
from portal.logs import tenant_id_var

from .models import RECEIVED, StripeEvent

# Stripe's own libraries refuse signatures older than five minutes: replays of old events.
TOLERANCE_SECONDS = 300
MAX_BODY_BYTES = 1_048_576


def _signature_error(exc: stripe.SignatureVerificationError) -> BadRequest:
    if "tolerance" in str(exc):
        return BadRequest(
            "The Stripe-Signature timestamp is more than five minutes old.",
            code="signature_timestamp_too_old",
        )
    return BadRequest(
        "The Stripe-Signature header does not match this tenant's webhook signing secret.",
        code="invalid_signature",
    )


def _parse(body: bytes) -> dict[str, Any]:
    try:
        event = json.loads(body)
    except ValueError:
        event = None
    data = event.get("data") if isinstance(event, dict) else None
    if (
        not isinstance(event, dict)
        or not isinstance(event.get("id"), str)
        or not isinstance(event.get("type"), str)
        or not isinstance(event.get("created"), int)
        or not isinstance(data, dict)
        or not isinstance(data.get("object"), dict)
    ):
        raise BadRequest(
            "The body is not a Stripe event (id, type, created and data.object).",
            code="invalid_event",
        )
    return event


@post(
    "/stripe/webhooks/{tenant_id:str}",
    status_code=200,
    include_in_schema=False,
    request_max_body_size=MAX_BODY_BYTES,
)
async def receive_stripe_event(
    request: Request[Any, Any, Any],
    tenant_id: FromPath[str],
    state: State,
    db_session: NamedDependency[AsyncSession],
) -> dict[str, bool]:
    """Store a verified Stripe event for the worker; Stripe only needs to hear 2xx."""
    from tenants.models import Tenant

    row = None
    if len(tenant_id) <= 40:
        row = (
            await db_session.execute(
                select(Tenant.stripe_webhook_secret_encrypted).where(Tenant.id == tenant_id)
            )
        ).first()
    if row is None:
        raise NotFound(f"No Billport tenant {tenant_id}.", code="tenant_not_found")
    tenant_id_var.set(tenant_id)
    if row[0] is None:
        raise BadRequest(
            "This tenant has no Stripe webhook signing secret yet; set stripe_webhook_secret "
            "with PATCH /api/v1/tenant.",
            code="stripe_webhook_secret_missing",
        )
    body = await request.body()
    header = request.headers.get("stripe-signature")
    if not header:
        raise BadRequest("The Stripe-Signature header is missing.", code="missing_signature")
    try:
        stripe.WebhookSignature.verify_header(
            body.decode("utf-8"), header, state.vault.decrypt(row[0]), TOLERANCE_SECONDS
        )
    except UnicodeDecodeError as exc:
        raise BadRequest("The body is not UTF-8 text.", code="invalid_event") from exc
    except stripe.SignatureVerificationError as exc:
        raise _signature_error(exc) from exc
    event = _parse(body)
    data_object = event["data"]["object"]
    object_id = data_object.get("id")
    now = utcnow()
    dialect = db_session.get_bind().dialect.name
    insert = (postgresql_insert if dialect == "postgresql" else sqlite_insert)(StripeEvent)
    statement = insert.values(
        tenant_id=tenant_id,
        stripe_event_id=event["id"][:255],
        type=event["type"][:100],
        object_id=object_id[:255] if isinstance(object_id, str) else "",
        created=event["created"],
        livemode=bool(event.get("livemode", False)),
        payload=event,
        received_at=now,
        status=RECEIVED,
        attempts=0,
        next_attempt_at=now,
    )
    # A delivery Stripe repeats (or that overtook its own retry) finds the row already there.
    await db_session.execute(
        statement.on_conflict_do_nothing(index_elements=["tenant_id", "stripe_event_id"])
    )
    await db_session.commit()
    return {"received": True}


ROUTES = [receive_stripe_event]
