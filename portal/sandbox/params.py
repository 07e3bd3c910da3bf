"""Typed reads of decoded form parameters, failing the way Stripe fails."""

from __future__ import annotations

from typing import Any

from .errors import InvalidRequest, missing

_TRUE = {"true", "1"}
_FALSE = {"false", "0"}


def string(params: dict[str, Any], name: str, *, required: bool = False) -> str | None:
    value = params.get(name)
    if value is None:
        if required:
            raise missing(name)
        return None
    if not isinstance(value, str):
        raise InvalidRequest(f"Invalid string: {name}", code="parameter_invalid_string", param=name)
    return value


def integer(params: dict[str, Any], name: str, *, required: bool = False) -> int | None:
    value = params.get(name)
    if value is None or value == "":
        if required:
            raise missing(name)
        return None
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            pass
    raise InvalidRequest(f"Invalid integer: {value}", code="parameter_invalid_integer", param=name)


def boolean(params: dict[str, Any], name: str, default: bool | None = None) -> bool | None:
    value = params.get(name)
    if value is None or value == "":
        return default
    if isinstance(value, str) and value.lower() in _TRUE:
        return True
    if isinstance(value, str) and value.lower() in _FALSE:
        return False
    raise InvalidRequest(f"Invalid boolean: {value}", code="parameter_invalid_boolean", param=name)


def listing(params: dict[str, Any], name: str) -> list[Any]:
    value = params.get(name)
    if value is None or value == "":
        return []
    if isinstance(value, list):
        return value
    if isinstance(value, str):
        return [value]
    raise InvalidRequest(f"Invalid array: {name}", code="parameter_invalid_array", param=name)


def mapping(params: dict[str, Any], name: str) -> dict[str, Any] | None:
    value = params.get(name)
    if value is None:
        return None
    if value == "":
        return {}
    if not isinstance(value, dict):
        raise InvalidRequest(f"Invalid object: {name}", code="parameter_invalid_object", param=name)
    return value


def apply_metadata(current: dict[str, str], params: dict[str, Any]) -> dict[str, str]:
    """Stripe's metadata update: keys set to '' are removed, ``metadata=''`` clears all."""
    if "metadata" not in params:
        return current
    value = params["metadata"]
    if value == "":
        return {}
    if not isinstance(value, dict):
        raise InvalidRequest("Invalid object: metadata", param="metadata")
    merged = dict(current)
    for key, item in value.items():
        if not isinstance(item, str):
            raise InvalidRequest(f"Invalid metadata value for {key}", param=f"metadata[{key}]")
        if len(key) > 40:
            raise InvalidRequest(
                "Metadata keys can be at most 40 characters.", param=f"metadata[{key}]"
            )
        if len(item) > 500:
            raise InvalidRequest(
                "Metadata values can be at most 500 characters.", param=f"metadata[{key}]"
            )
        if item == "":
            merged.pop(key, None)
        else:
            merged[key] = item
    if len(merged) > 50:
        raise InvalidRequest("Metadata can have at most 50 keys.", param="metadata")
    return merged
