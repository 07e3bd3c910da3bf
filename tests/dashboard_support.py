"""Driving the dashboard over HTTP like a browser: cookies, forms and their CSRF tokens."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
PASSWORD = "correct horse battery"


class DashboardClient:
    def __init__(self, portal_url: str) -> None:
        self.http = httpx.Client(base_url=portal_url, timeout=30)
        self.email: str | None = None

    def close(self) -> None:
        self.http.close()

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.get(path, **kwargs)

    def token(self, page: str = "/dashboard/login") -> str:
        found = CSRF.search(self.http.get(page).text)
        assert found, f"no form token on {page}"
        return found.group(1)

    def post(self, path: str, data: dict[str, Any], page: str | None = None) -> httpx.Response:
        """Submit a form the way the page at ``page`` (default: ``path``) renders it."""
        token = self.token(page or path)
        return self.http.post(path, data={"csrf_token": token, **data})

    def sign_up(self, email: str | None = None, password: str = PASSWORD) -> httpx.Response:
        self.email = email or f"admin-{uuid.uuid4().hex[:8]}@example.com"
        answer = self.post("/dashboard/signup", {"email": self.email, "password": password})
        assert answer.status_code == 303, answer.text
        return answer

    def sign_in(self, email: str, password: str = PASSWORD) -> httpx.Response:
        self.email = email
        return self.post("/dashboard/login", {"email": email, "password": password})

    def create_tenant(self, sandbox_url: str, account: str, **fields: str) -> str:
        """A tenant on the sandbox account; its id (after the reveal-once page)."""
        answer = self.post(
            "/dashboard/tenants/new",
            {
                "name": "Acme Notes",
                "stripe_secret_key": f"sk_test_{account}",
                "stripe_api_base": sandbox_url,
                **fields,
            },
        )
        assert answer.status_code == 200, answer.text
        found = re.search(r'href="/dashboard/t/(ten_[A-Za-z0-9]+)"', answer.text)
        assert found, answer.text
        return found.group(1)


def secrets_shown(html: str) -> list[str]:
    return re.findall(r"data-secret>([^<]+)<", html)
