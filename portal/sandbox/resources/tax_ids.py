"""Customer tax IDs: ``/v1/customers/{id}/tax_ids``.

Numbers are checked for shape per type, as Stripe does before its (asynchronous) verification;
the sandbox then marks them verified at once, except values containing ``000000000``, which
stay ``unverified`` so the unhappy path can be shown.
"""

from __future__ import annotations

import re
from typing import Any

from ..errors import InvalidRequest
from ..listing import paginate
from ..params import string
from ..routing import Request, route

# Shapes of the numbers of the tax ID types most SaaS customers use; others are accepted as
# Stripe would, with only a length check.
SHAPES = {
    "eu_vat": (
        r"(AT|BE|BG|CY|CZ|DE|DK|EE|EL|ES|FI|FR|HR|HU|IE|IT|LT|LU|LV|MT|NL|PL|PT|RO|SE|SI|SK|XI)"
        r"[0-9A-Z]{8,12}"
    ),
    "gb_vat": r"GB(\d{9}|\d{12})",
    "ch_vat": r"CHE-?\d{3}\.?\d{3}\.?\d{3} ?(MWST|TVA|IVA)",
    "no_vat": r"\d{9}MVA",
    "us_ein": r"\d{2}-?\d{7}",
    "ca_bn": r"\d{9}",
    "au_abn": r"\d{11}",
    "nz_gst": r"\d{8,9}",
    "in_gst": r"\d{2}[A-Z]{5}\d{4}[A-Z][0-9A-Z]Z[0-9A-Z]",
    "jp_cn": r"\d{13}",
    "sg_gst": r"[A-Z]\d{8}[A-Z]",
    "za_vat": r"4\d{9}",
    "br_cnpj": r"\d{2}\.?\d{3}\.?\d{3}/?\d{4}-?\d{2}",
    "mx_rfc": r"[A-Z&Ñ]{3,4}\d{6}[A-Z0-9]{3}",
}
COUNTRIES = {
    "gb_vat": "GB", "ch_vat": "CH", "no_vat": "NO", "us_ein": "US", "ca_bn": "CA",
    "au_abn": "AU", "nz_gst": "NZ", "in_gst": "IN", "jp_cn": "JP", "sg_gst": "SG",
    "za_vat": "ZA", "br_cnpj": "BR", "mx_rfc": "MX",
}  # fmt: skip


def _country(kind: str, value: str) -> str | None:
    if kind == "eu_vat":
        return "GR" if value.startswith("EL") else value[:2]
    return COUNTRIES.get(kind)


@route("POST", "/v1/customers/{customer}/tax_ids")
def create_tax_id(req: Request) -> dict[str, Any]:
    account = req.acct
    customer = account.get("customer", req.path_params["customer"], "customer")
    kind = string(req.params, "type", required=True) or ""
    value = (string(req.params, "value", required=True) or "").strip()
    if not re.fullmatch(r"[a-z]{2}_[a-z_]{2,10}", kind):
        raise InvalidRequest(f"Invalid value for type: {kind}", param="type")
    shape = SHAPES.get(kind)
    if (shape and not re.fullmatch(shape, value)) or not 2 <= len(value) <= 40:
        raise InvalidRequest(f"Invalid value for {kind}.", code="tax_id_invalid", param="value")
    tax_id = {
        "id": account.new_id("txi"),
        "object": "tax_id",
        "country": _country(kind, value),
        "created": account.now(),
        "customer": customer["id"],
        "customer_account": None,
        "livemode": False,
        "owner": {"customer": customer["id"], "type": "customer", "customer_account": None},
        "type": kind,
        "value": value,
        "verification": {
            "status": "unverified" if "000000000" in value else "verified",
            "verified_address": None,
            "verified_name": None,
        },
    }
    account.add(tax_id)
    req.emit("customer.tax_id.created", tax_id)
    return tax_id


def _owned(req: Request) -> dict[str, Any]:
    account = req.acct
    customer = account.get("customer", req.path_params["customer"], "customer")
    tax_id = account.get("tax_id", req.path_params["id"])
    if tax_id["customer"] != customer["id"]:
        raise InvalidRequest(
            f"No such tax ID: '{tax_id['id']}'", code="resource_missing", param="id", status=404
        )
    return tax_id


@route("GET", "/v1/customers/{customer}/tax_ids/{id}")
def retrieve_tax_id(req: Request) -> dict[str, Any]:
    return _owned(req)


@route("DELETE", "/v1/customers/{customer}/tax_ids/{id}")
def delete_tax_id(req: Request) -> dict[str, Any]:
    tax_id = _owned(req)
    req.acct.remove(tax_id["id"])
    req.emit("customer.tax_id.deleted", tax_id)
    return {"id": tax_id["id"], "object": "tax_id", "deleted": True}


@route("GET", "/v1/customers/{customer}/tax_ids")
def list_tax_ids(req: Request) -> dict[str, Any]:
    customer = req.acct.get("customer", req.path_params["customer"], "customer")
    return paginate(
        req.acct.newest_first("tax_id"),
        req.params,
        f"/v1/customers/{customer['id']}/tax_ids",
        lambda tax_id: tax_id["customer"] == customer["id"],
    )
