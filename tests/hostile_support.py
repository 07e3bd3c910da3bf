"""What the hostile-input tests share: a tenant set up once per module, raw HTTP, payloads."""

from __future__ import annotations

import socket
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx
import stripe

from tests.conftest import OPERATOR_TOKEN

ORIGIN = "https://app.acme.test"

# What an attacker types into every field that may end up in a page.
XSS_PAYLOADS = (
    "<img src=x onerror=alert(1)>",
    '"><script>alert(2)</script>',
    "'><svg onload=alert(3)>",
    "</script><script>alert(4)</script>",
    "javascript:alert(5)",
    "{{7*7}}${7*7}{% raw %}",
)


def register_tenant(portal_url: str, sandbox_url: str, **fields: Any) -> dict[str, Any]:
    """A tenant on a fresh sandbox account, through the operator API; ``account`` added."""
    account = "h" + uuid.uuid4().hex[:16]
    body = {
        "name": "Acme Notes",
        "stripe_secret_key": f"sk_test_{account}",
        "stripe_api_base": sandbox_url,
        "allowed_origins": [ORIGIN],
        **fields,
    }
    answer = httpx.post(
        f"{portal_url}/api/v1/tenants",
        json=body,
        headers={"Authorization": f"Bearer {OPERATOR_TOKEN}"},
        timeout=30,
    )
    assert answer.status_code == 201, answer.text
    return {**answer.json(), "account": account}


def stripe_for(tenant: dict[str, Any], sandbox_url: str) -> stripe.StripeClient:
    return stripe.StripeClient(
        f"sk_test_{tenant['account']}", base_addresses={"api": sandbox_url}, max_network_retries=0
    )


@dataclass
class RawResponse:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    def header(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key.lower() == name.lower()]


def raw_request(base_url: str, request: bytes, timeout: float = 10) -> RawResponse:
    """Send exactly these bytes (no client normalizes the path or checks the headers) and
    parse the answer; a connection closed without an answer is status 0."""
    parts = urlsplit(base_url)
    with socket.create_connection((parts.hostname, parts.port), timeout=timeout) as sock:
        sock.sendall(request)
        data = b""
        while True:
            try:
                chunk = sock.recv(65536)
            except (TimeoutError, ConnectionResetError):
                break
            if not chunk:
                break
            data += chunk
    if not data:
        return RawResponse(0)
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = []
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers.append((name.strip(), value.strip()))
    return RawResponse(status, headers, body)


def raw_get(base_url: str, target: str, extra_headers: str = "") -> RawResponse:
    """GET with the request target written as given (``..`` and encodings kept)."""
    request = f"GET {target} HTTP/1.1\r\nHost: x\r\n{extra_headers}Connection: close\r\n\r\n"
    return raw_request(base_url, request.encode("latin-1"))
