"""Rendering dashboard pages: Jinja2 (autoescaped), its static files, its security headers."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from litestar import MediaType, Response

from portal.assets import load_assets

STATIC = Path(__file__).parent / "static"
ASSETS = load_assets(STATIC)

HEADERS = {
    "Content-Security-Policy": "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            # Billing page previews are the portal's own widget pages.
            "frame-src 'self'",
            "form-action 'self'",
            "base-uri 'none'",
            "object-src 'none'",
            "frame-ancestors 'none'",
        ]
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def _when(value: datetime | int | float | None) -> str:
    if value is None:
        return "—"
    if not isinstance(value, datetime):
        value = datetime.fromtimestamp(value, UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _static(name: str) -> str:
    return f"/dashboard/static/{name}?v={ASSETS[name].version}"


_ENV = Environment(
    loader=PackageLoader("tenants.dashboard", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
    # Templates ship with the package: no need to check their files on every render.
    auto_reload=False,
)
_ENV.globals["static"] = _static
_ENV.filters["when"] = _when


def render(template: str, *, status_code: int = 200, **context: Any) -> Response[str]:
    html = _ENV.get_template(template).render(**context)
    return Response(html, status_code=status_code, media_type=MediaType.HTML, headers=HEADERS)
