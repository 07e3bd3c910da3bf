"""Products: ``/v1/products``."""

from __future__ import annotations

import re
from typing import Any

from ..errors import InvalidRequest, NotFound, missing
from ..listing import paginate
from ..params import apply_metadata, boolean, listing, string
from ..routing import Request, route
from ..state import Account
from .prices import (
    DEFAULT_PRICE_DATA_KEYS,
    add_price,
    build_price,
    ensure_new_id,
    metadata_for_create,
    nested,
    reject_unknown,
    request_info,
    to_bool,
    to_choice,
    to_dict,
    to_text,
)

_INLINE_KEYS = {
    "active",
    "id",
    "metadata",
    "name",
    "statement_descriptor",
    "tax_code",
    "tax_details",
    "unit_label",
}
_CREATE_KEYS = _INLINE_KEYS | {
    "default_price_data",
    "description",
    "expand",
    "images",
    "marketing_features",
    "package_dimensions",
    "shippable",
    "type",
    "url",
}
_UPDATE_KEYS = (_CREATE_KEYS - {"default_price_data", "id", "type"}) | {"default_price"}
_DESCRIPTOR_FORBIDDEN = re.compile(r"[<>\\\"']")


def _images(value: Any, param: str) -> list[str]:
    if value == "":
        return []
    if not isinstance(value, list):
        raise InvalidRequest(f"Invalid array: {param}", code="parameter_invalid_array", param=param)
    if len(value) > 8:
        raise InvalidRequest("A product can have at most 8 images.", param=param)
    return [str(to_text(url, f"{param}[{i}]", max_length=2048)) for i, url in enumerate(value)]


def _marketing_features(value: Any, param: str) -> list[dict[str, str]]:
    if value == "":
        return []
    if not isinstance(value, list):
        raise InvalidRequest(f"Invalid array: {param}", code="parameter_invalid_array", param=param)
    if len(value) > 15:
        raise InvalidRequest("A product can have at most 15 marketing features.", param=param)
    features = []
    for index, entry in enumerate(value):
        where = f"{param}[{index}]"
        feature = to_dict(entry, where)
        reject_unknown(feature, {"name"}, where)
        if feature.get("name") is None:
            raise missing(f"{where}[name]")
        features.append({"name": str(to_text(feature["name"], f"{where}[name]", max_length=80))})
    return features


def _package_dimensions(value: Any, param: str) -> dict[str, float] | None:
    if value == "":
        return None
    dimensions = to_dict(value, param)
    reject_unknown(dimensions, {"height", "length", "weight", "width"}, param)
    found: dict[str, float] = {}
    for key in ("height", "length", "weight", "width"):
        if dimensions.get(key) in (None, ""):
            raise missing(f"{param}[{key}]")
        try:
            number = float(dimensions[key])
        except (TypeError, ValueError):
            raise InvalidRequest(
                f"Invalid decimal: {dimensions[key]}", param=f"{param}[{key}]"
            ) from None
        if number <= 0:
            raise InvalidRequest("Must be a positive number.", param=f"{param}[{key}]")
        found[key] = round(number, 2)
    return found


def _statement_descriptor(value: Any, param: str) -> str | None:
    text = to_text(value, param, max_length=22, unset=True)
    if text is not None and (
        _DESCRIPTOR_FORBIDDEN.search(text) or not re.search(r"[A-Za-z]", text)
    ):
        raise InvalidRequest(
            "The statement descriptor must contain at least one letter and may not include "
            "`<`, `>`, `\\`, `\"` or `'` characters.",
            param=param,
        )
    return text


def _tax_code(value: Any, param: str) -> str | None:
    return to_text(value, param, unset=True)


def _fields(p: dict[str, Any], prefix: str, *, creating: bool) -> dict[str, Any]:
    """The product fields named in ``p``, validated; ``''`` unsets where Stripe allows."""
    fields: dict[str, Any] = {}
    if "name" in p:
        fields["name"] = to_text(p["name"], nested(prefix, "name"), max_length=5000)
    if p.get("active") not in (None, ""):
        fields["active"] = to_bool(p["active"], nested(prefix, "active"))
    for key in ("description", "unit_label", "url"):
        if key in p:
            fields[key] = to_text(p[key], nested(prefix, key), unset=not creating)
    if "images" in p:
        fields["images"] = _images(p["images"], nested(prefix, "images"))
    if "marketing_features" in p:
        fields["marketing_features"] = _marketing_features(
            p["marketing_features"], nested(prefix, "marketing_features")
        )
    if "package_dimensions" in p:
        fields["package_dimensions"] = _package_dimensions(
            p["package_dimensions"], nested(prefix, "package_dimensions")
        )
    if p.get("shippable") not in (None, ""):
        fields["shippable"] = to_bool(p["shippable"], nested(prefix, "shippable"))
    if "statement_descriptor" in p:
        fields["statement_descriptor"] = _statement_descriptor(
            p["statement_descriptor"], nested(prefix, "statement_descriptor")
        )
    if "tax_code" in p:
        fields["tax_code"] = _tax_code(p["tax_code"], nested(prefix, "tax_code"))
    if p.get("tax_details") not in (None, ""):
        details = to_dict(p["tax_details"], nested(prefix, "tax_details"))
        reject_unknown(details, {"performance_location", "tax_code"}, nested(prefix, "tax_details"))
        if "tax_code" in details:
            fields["tax_code"] = _tax_code(
                details["tax_code"], nested(prefix, "tax_details[tax_code]")
            )
    return fields


def build_product(
    account: Account, p: dict[str, Any], prefix: str = "", inline: bool = False
) -> dict[str, Any]:
    """A validated new product (not yet stored); ``inline`` for ``product_data`` params."""
    reject_unknown(p, _INLINE_KEYS if inline else _CREATE_KEYS, prefix)
    if p.get("name") is None:
        raise missing(nested(prefix, "name"))
    product_id = (
        ensure_new_id(account, p["id"], "Product", nested(prefix, "id"))
        if p.get("id") not in (None, "")
        else account.new_id("prod", 14)
    )
    now = account.now()
    product: dict[str, Any] = {
        "id": product_id,
        "object": "product",
        "active": True,
        "created": now,
        "default_price": None,
        "description": None,
        "images": [],
        "livemode": False,
        "marketing_features": [],
        "metadata": metadata_for_create(p, prefix),
        "name": None,
        "package_dimensions": None,
        "shippable": None,
        "statement_descriptor": None,
        "tax_code": None,
        "type": "service",
        "unit_label": None,
        "updated": now,
        "url": None,
    }
    product.update(_fields(p, prefix, creating=True))
    if not inline and p.get("type") not in (None, ""):
        product["type"] = to_choice(p["type"], "type", ("good", "service"))
    return product


@route("POST", "/v1/products")
def create_product(req: Request) -> dict[str, Any]:
    account = req.acct
    p = req.params
    product = build_product(account, p)
    price = private = None
    if p.get("default_price_data") not in (None, ""):
        data = to_dict(p["default_price_data"], "default_price_data")
        reject_unknown(data, DEFAULT_PRICE_DATA_KEYS, "default_price_data")
        price, private = build_price(account, data, product["id"], "default_price_data")
        product["default_price"] = price["id"]
    account.add(product)
    req.emit("product.created", product)
    if price is not None and private is not None:
        add_price(req.state, account, price, private, request=request_info(req))
    return product


@route("GET", "/v1/products/{id}")
def retrieve_product(req: Request) -> dict[str, Any]:
    return req.acct.get("product", req.path_params["id"])


@route("POST", "/v1/products/{id}")
def update_product(req: Request) -> dict[str, Any]:
    account = req.acct
    product = account.get("product", req.path_params["id"])
    p = req.params
    reject_unknown(p, _UPDATE_KEYS)
    changes = _fields(p, "", creating=False)
    if "default_price" in p:
        price_id = to_text(p["default_price"], "default_price", unset=True)
        if price_id is not None:
            price = account.get("price", price_id, "default_price")
            if price["product"] != product["id"]:
                raise InvalidRequest(
                    f"The price `{price_id}` does not belong to this product; the default "
                    "price must be one of the product's prices.",
                    param="default_price",
                )
            if not price["active"]:
                raise InvalidRequest(
                    f"The price `{price_id}` is archived; only an active price can be the "
                    "default price.",
                    param="default_price",
                )
        changes["default_price"] = price_id
    metadata = apply_metadata(product["metadata"], p)
    if metadata != product["metadata"]:
        changes["metadata"] = metadata
    previous = {key: product[key] for key, value in changes.items() if product[key] != value}
    if previous:
        product.update(changes)
        previous["updated"] = product["updated"]
        product["updated"] = account.now()
        req.emit("product.updated", product, previous)
    return product


@route("DELETE", "/v1/products/{id}")
def delete_product(req: Request) -> dict[str, Any]:
    account = req.acct
    product = account.get("product", req.path_params["id"])
    if account.private.get(product["id"], {}).get("prices", 0):
        raise InvalidRequest(
            "This product cannot be deleted because it has one or more user-created prices."
        )
    account.remove(product["id"])
    req.emit("product.deleted", product)
    return {"id": product["id"], "object": "product", "deleted": True}


@route("GET", "/v1/products")
def list_products(req: Request) -> dict[str, Any]:
    account = req.acct
    p = req.params
    active = boolean(p, "active")
    shippable = boolean(p, "shippable")
    kind = string(p, "type")
    url = string(p, "url")
    ids = [i for i in listing(p, "ids") if isinstance(i, str)]
    if ids and (p.get("starting_after") or p.get("ending_before")):
        raise InvalidRequest(
            "You cannot use `ids` together with `starting_after` or `ending_before`.",
            param="ids",
        )

    def wanted(product: dict[str, Any]) -> bool:
        return (
            (active is None or product["active"] == active)
            and (shippable is None or product["shippable"] == shippable)
            and (kind is None or product["type"] == kind)
            and (url is None or product["url"] == url)
        )

    if ids:
        found = []
        for product_id in dict.fromkeys(ids):
            try:
                found.append(account.get("product", product_id, "ids"))
            except NotFound:
                continue
        items = sorted(found, key=lambda product: product["created"], reverse=True)
    else:
        items = list(account.newest_first("product"))
    return paginate(items, p, "/v1/products", wanted)
