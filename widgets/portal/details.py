"""Billing details: the name, address, phone and tax ID on the customer's invoices.

Everything is checked here before Stripe is called, so a typo is answered next to its field
and never half-saved; Stripe's own tax ID verdict is mapped to the same kind of answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, cast

import msgspec
import stripe
from babel import Locale
from litestar import Controller, get, post
from litestar.di import NamedDependency, Provide
from litestar.params import JSONBody

from portal.errors import BillportError, ValidationFailed
from portal.stripe_gateway import map_stripe_error, stripe_call

from ..billing.routes import ActionId, WidgetContext, provide_context
from ..billing.service import BillingService, plain
from .payments import CUSTOMER_PORTAL, check_widget, portal_customer

# CLDR regions that are not countries an address can be in (continents, pseudo-regions).
_NOT_COUNTRIES = {"AC", "CP", "CQ", "DG", "EA", "EU", "EZ", "IC", "QO", "TA", "UN", "XA", "XB"}
COUNTRIES = frozenset(
    code
    for code in map(str, Locale("en").territories)
    if len(code) == 2 and code.isalpha() and code not in _NOT_COUNTRIES and code != "ZZ"
)
# EU VAT numbers start with the member state's code (Greece: EL, Northern Ireland: XI).
_EU_PREFIXES = set(
    "AT BE BG CY CZ DE DK EE EL ES FI FR HR HU IE IT LT LU LV MT NL PL PT RO SE SI SK XI".split()
)


@dataclass(frozen=True)
class TaxIdType:
    label: str
    pattern: str
    example: str


# The Stripe tax ID types the portal offers, with the shape of their numbers.
TAX_ID_TYPES = {
    "eu_vat": TaxIdType("EU VAT number", r"[A-Z]{2}[0-9A-Z]{8,12}", "DE123456789"),
    "gb_vat": TaxIdType("UK VAT number", r"GB(\d{9}|\d{12})", "GB123456789"),
    "ch_vat": TaxIdType(
        "Swiss VAT number", r"CHE-?\d{3}\.?\d{3}\.?\d{3} ?(MWST|TVA|IVA)", "CHE-123.456.789 MWST"
    ),
    "no_vat": TaxIdType("Norwegian VAT number", r"\d{9}MVA", "123456789MVA"),
    "us_ein": TaxIdType("US EIN", r"\d{2}-?\d{7}", "12-3456789"),
    "ca_bn": TaxIdType("Canadian BN", r"\d{9}", "123456789"),
    "au_abn": TaxIdType("Australian ABN", r"\d{11}", "12345678912"),
    "nz_gst": TaxIdType("New Zealand GST number", r"\d{8,9}", "123456789"),
    "in_gst": TaxIdType(
        "Indian GST number", r"\d{2}[A-Z]{5}\d{4}[A-Z][0-9A-Z]Z[0-9A-Z]", "12ABCDE3456FGZH"
    ),
    "jp_cn": TaxIdType("Japanese corporate number", r"\d{13}", "1234567891234"),
    "sg_gst": TaxIdType("Singaporean GST number", r"[A-Z]\d{8}[A-Z]", "M12345678X"),
    "za_vat": TaxIdType("South African VAT number", r"4\d{9}", "4123456789"),
    "br_cnpj": TaxIdType(
        "Brazilian CNPJ", r"\d{2}\.?\d{3}\.?\d{3}/?\d{4}-?\d{2}", "01.234.456/5432-10"
    ),
    "mx_rfc": TaxIdType("Mexican RFC", r"[A-Z&Ñ]{3,4}\d{6}[A-Z0-9]{3}", "ABC010203AB9"),
}

# Longest values Stripe keeps for each field (longer ones are refused, not cut).
_LIMITS = {
    "name": 256,
    "phone": 20,
    "address.line1": 200,
    "address.line2": 200,
    "address.city": 100,
    "address.postal_code": 20,
    "address.state": 100,
}
_LABELS = {
    "name": "Name",
    "phone": "Phone",
    "address.line1": "Address line 1",
    "address.line2": "Address line 2",
    "address.city": "City",
    "address.postal_code": "Postal code",
    "address.state": "State or region",
}
_REQUIRED = ("name", "address.line1", "address.city")
_PHONE = re.compile(r"\+?[0-9 ()./-]{4,20}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class AddressBody(msgspec.Struct, forbid_unknown_fields=True):
    line1: str = ""
    line2: str = ""
    city: str = ""
    postal_code: str = ""
    state: str = ""
    country: str = ""


class TaxIdBody(msgspec.Struct, forbid_unknown_fields=True):
    type: str
    value: str


class DetailsBody(msgspec.Struct, forbid_unknown_fields=True):
    action_id: ActionId
    name: str
    address: AddressBody
    phone: str = ""
    # Absent: keep the tax IDs as they are; null: remove them; a value: the one tax ID.
    tax_id: TaxIdBody | msgspec.UnsetType | None = msgspec.UNSET


@dataclass(frozen=True)
class CheckedDetails:
    customer: dict[str, Any]
    tax_id: tuple[str, str] | msgspec.UnsetType | None


def _text(value: str, param: str) -> str:
    value = value.strip()
    label = _LABELS[param]
    if not value and param in _REQUIRED:
        raise ValidationFailed(f"{label} is required.", param=param)
    if len(value) > _LIMITS[param]:
        raise ValidationFailed(f"{label} can be at most {_LIMITS[param]} characters.", param=param)
    if _CONTROL.search(value):
        raise ValidationFailed(f"{label} contains characters that cannot be printed.", param=param)
    return value


def check_tax_id(kind: str, value: str) -> tuple[str, str]:
    """The tax ID normalised as Stripe expects it, or a ValidationFailed naming the field."""
    known = TAX_ID_TYPES.get(kind)
    if known is None:
        raise ValidationFailed("Choose a tax ID type from the list.", param="tax_id.type")
    value = value.strip().upper()
    if kind != "ch_vat":
        value = value.replace(" ", "")
    if not value:
        raise ValidationFailed(f"Enter your {known.label}.", param="tax_id.value")
    valid = len(value) <= 40 and re.fullmatch(known.pattern, value) is not None
    if valid and kind == "eu_vat":
        valid = value[:2] in _EU_PREFIXES
    if not valid:
        raise ValidationFailed(
            f"This is not a valid {known.label}; it looks like {known.example}.",
            code="tax_id_invalid",
            param="tax_id.value",
        )
    return kind, value


def check_details(body: DetailsBody) -> CheckedDetails:
    address = body.address
    country = address.country.strip().upper()
    phone = _text(body.phone, "phone")
    fields: dict[str, Any] = {
        "name": _text(body.name, "name"),
        "phone": phone,
        "address": {
            "line1": _text(address.line1, "address.line1"),
            "line2": _text(address.line2, "address.line2"),
            "city": _text(address.city, "address.city"),
            "postal_code": _text(address.postal_code, "address.postal_code"),
            "state": _text(address.state, "address.state"),
            "country": country,
        },
    }
    if phone and not _PHONE.fullmatch(phone):
        raise ValidationFailed("Enter a phone number, like +1 415 555 0100.", param="phone")
    if country not in COUNTRIES:
        raise ValidationFailed("Choose a country from the list.", param="address.country")
    tax_id: tuple[str, str] | msgspec.UnsetType | None = msgspec.UNSET
    if isinstance(body.tax_id, TaxIdBody):
        tax_id = check_tax_id(body.tax_id.type, body.tax_id.value)
    elif body.tax_id is None:
        tax_id = None
    return CheckedDetails(fields, tax_id)


def tax_id_error(exc: stripe.StripeError) -> BillportError:
    """Stripe refusing a tax ID is the customer's typo, answered next to the field."""
    if isinstance(exc, stripe.InvalidRequestError) and exc.code == "tax_id_invalid":
        return ValidationFailed(
            exc.user_message or "This tax ID is not valid.",
            code="tax_id_invalid",
            param="tax_id.value",
        )
    return map_stripe_error(exc)


def tax_id_summary(tax_id: Any) -> dict[str, Any]:
    return {"id": tax_id["id"], "type": tax_id["type"], "value": tax_id["value"]}


class DetailsService:
    def __init__(self, billing: BillingService, customer_id: str) -> None:
        self.billing = billing
        self.client = billing.client
        self.customer_id = customer_id

    async def tax_ids(self) -> list[dict[str, Any]]:
        found = await stripe_call(
            self.client.v1.customers.tax_ids.list_async(self.customer_id, params={"limit": 100})
        )
        return [tax_id_summary(plain(tax_id)) for tax_id in found.data]

    async def read(self) -> dict[str, Any]:
        customer = plain(
            await stripe_call(self.client.v1.customers.retrieve_async(self.customer_id))
        )
        details: dict[str, Any] = {
            "name": customer.get("name"),
            "email": customer.get("email"),
            "phone": customer.get("phone"),
            "address": customer.get("address"),
        }
        try:
            details["tax_ids"] = await self.tax_ids()
        except BillportError:
            # A restricted key may not read tax IDs: the rest stays editable.
            details["tax_ids"] = None
        return details

    async def save(self, checked: CheckedDetails, action_id: str) -> dict[str, Any]:
        previous: list[dict[str, Any]] = []
        keep: str | None = None
        if checked.tax_id is not msgspec.UNSET:
            previous = await self.tax_ids()
        if isinstance(checked.tax_id, tuple):
            kind, value = checked.tax_id
            same = [t for t in previous if (t["type"], t["value"]) == (kind, value)]
            if same:
                keep = same[0]["id"]
            else:
                # First, so that a refused tax ID leaves everything as it was.
                try:
                    created = await self.client.v1.customers.tax_ids.create_async(
                        self.customer_id,
                        params=cast(Any, {"type": kind, "value": value}),
                        options={
                            "idempotency_key": self.billing.key(
                                "tax_id", self.customer_id, action_id
                            )
                        },
                    )
                except stripe.StripeError as exc:
                    raise tax_id_error(exc) from exc
                keep = str(created.id)
        await stripe_call(
            self.client.v1.customers.update_async(
                self.customer_id,
                params=cast(Any, checked.customer),
                options={
                    "idempotency_key": self.billing.key("details", self.customer_id, action_id)
                },
            )
        )
        for old in previous:
            if old["id"] != keep:
                await stripe_call(
                    self.client.v1.customers.tax_ids.delete_async(
                        self.customer_id,
                        old["id"],
                        options={"idempotency_key": self.billing.key("tax_id_delete", old["id"])},
                    )
                )
        return await self.read()


class BillingDetailsController(Controller):
    path = "/w/api/portal"
    include_in_schema = False
    dependencies = {"widget": Provide(provide_context)}

    @get("/details")
    async def read(self, widget: NamedDependency[WidgetContext]) -> dict[str, Any]:
        check_widget(widget, CUSTOMER_PORTAL)
        details: dict[str, Any] = {
            "countries": sorted(COUNTRIES),
            "tax_id_types": [
                {"type": kind, "label": known.label, "example": known.example}
                for kind, known in TAX_ID_TYPES.items()
            ],
        }
        if widget.session.customer_id is None:
            empty: dict[str, Any] = {"name": None, "phone": None, "address": None, "tax_ids": []}
            return {**details, **empty, "email": widget.session.email}
        service = DetailsService(widget.billing, widget.session.customer_id)
        return {**details, **await service.read()}

    @post("/details", status_code=200)
    async def save(
        self, widget: NamedDependency[WidgetContext], data: JSONBody[DetailsBody]
    ) -> dict[str, Any]:
        customer_id = portal_customer(widget, CUSTOMER_PORTAL)
        checked = check_details(data)
        return await DetailsService(widget.billing, customer_id).save(checked, data.action_id)
