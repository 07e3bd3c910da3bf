"""Rendering widget pages with Jinja2 (autoescaped) and their security headers."""

from __future__ import annotations

from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from litestar import MediaType, Response

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


def render_html(template: str, *, assets: dict[str, Asset], **context: Any) -> str:
    def static(name: str) -> str:
        return f"/static/widgets/{name}?v={assets[name].version}"

    return _ENV.get_template(template).render(static=static, **context)


def render(
    template: str,
    *,
    assets: dict[str, Asset],
    frame_ancestors: list[str],
    stripe_api_base: str | None,
    status_code: int = 200,
    **context: Any,
) -> Response[str]:
    return Response(
        render_html(template, assets=assets, **context),
        status_code=status_code,
        media_type=MediaType.HTML,
        headers=page_headers(frame_ancestors, stripe_api_base),
    )
