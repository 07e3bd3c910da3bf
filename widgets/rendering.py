"""Rendering widget pages with Jinja2 (autoescaped) and their security headers."""

from __future__ import annotations

from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from litestar import Response

from portal.assets import Asset

from .security import page_headers

_ENV = Environment(
    loader=PackageLoader("widgets", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
    # Templates ship with the package: no need to check their files on every render.
    auto_reload=False,
)


def render(
    template: str,
    *,
    assets: dict[str, Asset],
    frame_ancestors: list[str],
    stripe_api_base: str | None,
    status_code: int = 200,
    **context: Any,
) -> Response[str]:
    def static(name: str) -> str:
        return f"/static/widgets/{name}?v={assets[name].version}"

    html = _ENV.get_template(template).render(static=static, **context)
    return Response(
        html,
        status_code=status_code,
        media_type="text/html; charset=utf-8",
        headers=page_headers(frame_ancestors, stripe_api_base),
    )
