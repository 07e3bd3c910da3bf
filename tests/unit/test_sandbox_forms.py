from __future__ import annotations

from urllib.parse import urlencode

import pytest
from hypothesis import given
from hypothesis import strategies as st

from portal.sandbox.forms import FormError, decode


def test_bracket_notation_nests_dicts_and_lists() -> None:
    body = urlencode(
        [
            ("customer", "cus_1"),
            ("items[0][price]", "price_a"),
            ("items[0][quantity]", "2"),
            ("items[1][price]", "price_b"),
            ("metadata[plan]", "pro"),
            ("expand[]", "latest_invoice"),
            ("expand[]", "customer"),
        ]
    )
    assert decode(body) == {
        "customer": "cus_1",
        "items": [{"price": "price_a", "quantity": "2"}, {"price": "price_b"}],
        "metadata": {"plan": "pro"},
        "expand": ["latest_invoice", "customer"],
    }


def test_empty_values_are_kept_for_unsetting() -> None:
    assert decode("metadata[plan]=&description=") == {"metadata": {"plan": ""}, "description": ""}


@pytest.mark.parametrize("bad", ["a]=1", "[x]=1", "a[b=1"])
def test_malformed_names_are_refused(bad: str) -> None:
    with pytest.raises(FormError):
        decode(bad)


keys = st.text(alphabet="abcdefghij_", min_size=1, max_size=8)


@given(st.dictionaries(keys, st.text(max_size=20), max_size=8))
def test_flat_forms_round_trip(fields: dict[str, str]) -> None:
    assert decode(urlencode(fields)) == fields


@given(st.text(max_size=300))
def test_any_input_decodes_or_is_refused(raw: str) -> None:
    try:
        assert isinstance(decode(raw), dict)
    except FormError:
        pass
