"""Stripe's form encoding: ``a[b][0][c]=x`` bracket notation decoded into nested values."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl

_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")
_PART = re.compile(r"\[([^\[\]]*)\]")
# Stripe nests a few levels at most; a deeper name is refused, not recursed into.
MAX_DEPTH = 20


class FormError(ValueError):
    """A parameter name that is not valid bracket notation."""

    def __init__(self, name: str) -> None:
        super().__init__(f"Invalid parameter name: {name}")
        self.param = name


def decode(raw: bytes | str) -> dict[str, Any]:
    """Decode a form or query string into nested dicts and lists.

    Values stay strings: each route coerces what it reads, as Stripe does, so that a wrong
    type gets Stripe's own error naming the parameter.
    """
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    root: dict[str, Any] = {}
    for name, value in parse_qsl(text, keep_blank_values=True):
        match = _KEY.match(name)
        if not match:
            raise FormError(name)
        keys = [match.group(1), *_PART.findall(match.group(2))]
        if len(keys) > MAX_DEPTH:
            raise FormError(name)
        _assign(root, keys, value, name)
    # The top level is always an object, even if every name is a number.
    return {key: _listify(value) for key, value in root.items()}


def _assign(node: dict[str, Any], keys: list[str], value: str, name: str) -> None:
    for index, key in enumerate(keys[:-1]):
        nxt = keys[index + 1]
        if key == "":
            raise FormError(name)
        child = node.get(key)
        if child is None or isinstance(child, str):
            child = {}
            node[key] = child
        if nxt == "" and index + 1 == len(keys) - 1:
            # ``expand[]=a&expand[]=b``: append with a fresh index.
            child[str(len(child))] = value
            return
        node = child
    last = keys[-1]
    if last == "":
        raise FormError(name)
    node[last] = value


def _listify(value: Any) -> Any:
    """Turn dicts whose keys are all indexes (``items[0]``, ``items[1]``) into lists."""
    if isinstance(value, dict):
        converted = {key: _listify(child) for key, child in value.items()}
        if converted and all(key.isascii() and key.isdigit() for key in converted):
            return [converted[key] for key in sorted(converted, key=int)]
        return converted
    return value
