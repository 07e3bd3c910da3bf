"""Schemathesis against the tenant API's own OpenAPI document, over HTTP, on both databases.

Every operation gets schema-valid and schema-breaking requests (NUL bytes, huge numbers,
wrong types, unknown fields, odd path ids): never a 5xx, and every answer, errors included,
must match what the document says. Without credentials nothing but a refusal comes back.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import schemathesis
import stripe
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import OPERATOR_TOKEN

SHORT_EXAMPLES = 20
LONG_EXAMPLES = 100
OPERATOR_ROUTE = "/api/v1/tenants"


@pytest.fixture(
    scope="module", params=[SHORT_EXAMPLES, pytest.param(LONG_EXAMPLES, marks=pytest.mark.long)]
)
def examples(request: pytest.FixtureRequest) -> int:
    return int(request.param)


@pytest.fixture(scope="module")
def tenant(portal_url: str, sandbox_url: str) -> dict[str, Any]:
    """A tenant with something in each list: a product, a billing page, a session."""
    account = "h" + uuid.uuid4().hex[:16]
    client = stripe.StripeClient(
        f"sk_test_{account}", base_addresses={"api": sandbox_url}, max_network_retries=0
    )
    product = client.v1.products.create(params={"name": "Pro", "metadata": {"tier": "pro"}})
    client.v1.prices.create(
        params={
            "product": product.id,
            "currency": "usd",
            "unit_amount": 900,
            "recurring": {"interval": "month"},
        }
    )
    created = httpx.post(
        f"{portal_url}{OPERATOR_ROUTE}",
        json={
            "name": "Hostile Inc",
            "stripe_secret_key": f"sk_test_{account}",
            "stripe_api_base": sandbox_url,
            "allowed_origins": ["https://app.hostile.test"],
        },
        headers={"Authorization": f"Bearer {OPERATOR_TOKEN}"},
        timeout=30,
    )
    assert created.status_code == 201, created.text
    tenant = dict(created.json())
    auth = {"Authorization": f"Bearer {tenant['secret_key']}"}
    with httpx.Client(base_url=portal_url, headers=auth, timeout=30) as api:
        page = api.post("/api/v1/billing_pages", json={"widget": "plan-picker", "name": "Main"})
        assert page.status_code == 201, page.text
        session = api.post("/api/v1/sessions", json={"email": "ada@example.com"})
        assert session.status_code == 201, session.text
        assert api.post("/api/v1/catalog/refresh").status_code == 200
    tenant["sandbox_url"] = sandbox_url
    return tenant


def load_schema(portal_url: str) -> Any:
    config = schemathesis.Config.from_dict(
        {
            "base-url": portal_url,
            # Nothing is written into the work tree: no example database, cache or reports.
            "cache": {"enabled": False},
            "generation": {"database": "none"},
        }
    )
    return schemathesis.openapi.from_url(f"{portal_url}/api/schema/openapi.json", config=config)


CONFORMANCE = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def assert_contract_error(response: Any) -> None:
    if response.status_code >= 400:
        body = response.json()
        assert set(body) == {"error"}, body
        assert isinstance(body["error"]["code"], str) and body["error"]["message"], body
        assert "Traceback" not in response.text


def fuzz(
    schema: Any,
    examples: int,
    headers: dict[str, str],
    extra_check: Callable[[Any, Any], None] = lambda case, response: None,
    prepare: Callable[[Any], None] = lambda case: None,
) -> None:
    """Every operation of ``schema``, with valid and invalid data; all failures reported."""
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert operations
    for operation in operations:
        cases = st.one_of(
            operation.as_strategy(GenerationMode.POSITIVE),
            operation.as_strategy(GenerationMode.NEGATIVE),
        )

        @settings(
            max_examples=examples,
            database=None,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=cases)
        def run(case: Any) -> None:
            prepare(case)
            response = case.call(headers=headers, timeout=30)
            case.validate_response(response, checks=CONFORMANCE, headers=headers)
            assert_contract_error(response)
            extra_check(case, response)

        try:
            run()
        except Exception as exc:
            failures.append(f"{operation.label}: {exc}")
    assert not failures, "\n\n".join(failures)


def test_the_tenant_api_holds_its_document_with_a_secret_key(
    portal_url: str, tenant: dict[str, Any], examples: int
) -> None:
    schema = load_schema(portal_url).exclude(path=OPERATOR_ROUTE)
    fuzz(schema, examples, {"Authorization": f"Bearer {tenant['secret_key']}"})


def test_the_operator_route_holds_its_document(
    portal_url: str, tenant: dict[str, Any], examples: int
) -> None:
    schema = load_schema(portal_url).include(path=OPERATOR_ROUTE)

    def sandbox_only(case: Any) -> None:
        if isinstance(case.body, dict):
            # A Stripe key that looks right is checked against Stripe: only ever the sandbox.
            case.body["stripe_api_base"] = tenant["sandbox_url"]

    # Fewer examples: each accepted tenant is checked against the sandbox.
    fuzz(
        schema,
        max(examples // 4, 5),
        {"Authorization": f"Bearer {OPERATOR_TOKEN}"},
        prepare=sandbox_only,
    )


def refused(case: Any, response: Any) -> None:
    # The guard answers before the body or the path id is looked at; only a path that
    # matches no route at all (a member id that is not a number) is a plain 404.
    assert response.status_code in (401, 404), response.text
    if response.status_code == 404:
        assert response.json()["error"]["code"] == "not_found"


def test_without_credentials_every_operation_is_refused(portal_url: str, examples: int) -> None:
    fuzz(load_schema(portal_url), max(examples // 4, 5), {}, refused)
