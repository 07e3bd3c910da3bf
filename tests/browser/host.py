"""A tenant's own web app for browser tests: pages served from an origin of our choosing."""

from __future__ import annotations

import html
import uuid
from typing import Any

from playwright.sync_api import FrameLocator, Page

# Records every event the page hears and lets a test decide pre_* events with `gate`.
RECORDER = """
<script>
  window.seen = { settings: [], dom: [], mount: [], billflow: [], messages: [] };
  window.gate = null;
  window.billportSettings = {
    handleResponse(payload) {
      seen.settings.push(payload);
      return window.gate ? window.gate(payload) : undefined;
    },
  };
  document.addEventListener("billport:event", (e) => seen.dom.push(e.detail));
  window.addEventListener("message", (e) => seen.messages.push({ origin: e.origin, data: e.data }));
</script>
"""


class HostSite:
    """Serves added pages by path, whatever host name the browser used."""

    def __init__(self) -> None:
        self.pages: dict[str, str] = {}

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                await send({"type": message["type"] + ".complete"})
                if message["type"] == "lifespan.shutdown":
                    return
        page = self.pages.get(scope["path"])
        status, body = (200, page.encode()) if page is not None else (404, b"")
        headers = [(b"content-type", b"text/html; charset=utf-8")]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    def add(self, body: str, head: str = "") -> str:
        """Serves a page and answers its path."""
        path = f"/page-{uuid.uuid4().hex[:12]}"
        self.pages[path] = (
            '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f"<title>Acme Notes</title>\n{head}\n</head>\n"
            '<body style="font-family: system-ui, sans-serif; max-width: 760px; margin: 32px auto">'
            f"\n{body}\n</body>\n</html>\n"
        )
        return path


def embed_script(portal_url: str) -> str:
    return f'<script src="{html.escape(portal_url)}/embed.js" async></script>'


def widget_div(widget: str, key: str, token: str | None = None, **data: str) -> str:
    attributes = {"data-billport": widget, "data-key": key}
    if token:
        attributes["data-token"] = token
    attributes.update({f"data-{name.replace('_', '-')}": value for name, value in data.items()})
    rendered = " ".join(f'{name}="{html.escape(value)}"' for name, value in attributes.items())
    return f"<div {rendered}></div>"


def open_page(
    page: Page, site: tuple[HostSite, str], portal_url: str, snippet: str
) -> FrameLocator:
    """Serve ``snippet`` (with the recorder and embed.js) on the host site and open it."""
    host, origin = site
    path = host.add(RECORDER + snippet + embed_script(portal_url))
    page.goto(origin + path)
    return page.frame_locator("[data-billport] iframe")


def events(page: Page) -> list[str]:
    """The events billportSettings.handleResponse heard, in order."""
    return list(page.evaluate("seen.settings.map((p) => p.event)"))


def payload(page: Page, event: str) -> dict[str, Any]:
    """The last payload of ``event`` that billportSettings.handleResponse heard."""
    found: dict[str, Any] = page.evaluate(
        "(event) => seen.settings.filter((p) => p.event === event).pop()", event
    )
    return found


def fill_card(frame: FrameLocator, number: str) -> None:
    """Type a test card into the (sandbox) Stripe card fields."""
    frame.get_by_label("Card number").fill(number)
    frame.get_by_label("Expiration date (MM / YY)").fill("12 / 34")
    frame.get_by_label("Security code (CVC)").fill("123")
