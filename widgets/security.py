"""Security headers of every page served inside a tenant's iframe."""

from __future__ import annotations

from urllib.parse import urlsplit

STRIPE_JS_ORIGIN = "https://js.stripe.com"
STRIPE_API_ORIGIN = "https://api.stripe.com"
STRIPE_HOOKS_ORIGIN = "https://hooks.stripe.com"


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def stripe_js_url(stripe_api_base: str | None) -> str:
    """Stripe.js from Stripe, or the sandbox's stand-in when the tenant uses the sandbox."""
    return f"{stripe_api_base}/v3/" if stripe_api_base else f"{STRIPE_JS_ORIGIN}/v3/"


def page_headers(frame_ancestors: list[str], stripe_api_base: str | None) -> dict[str, str]:
    if stripe_api_base:
        scripts = connects = frames = [_origin(stripe_api_base)]
    else:
        scripts = [STRIPE_JS_ORIGIN]
        connects = [STRIPE_API_ORIGIN]
        frames = [STRIPE_JS_ORIGIN, STRIPE_HOOKS_ORIGIN]
    # The portal's own origin comes last: the dashboard previews billing pages in an iframe.
    ancestors = " ".join([a for a in frame_ancestors if a != "'none'"] + ["'self'"])
    policy = "; ".join(
        [
            "default-src 'none'",
            "script-src 'self' " + " ".join(scripts),
            # The card fields of Stripe.js stand-ins carry inline styles.
            "style-src 'self' 'unsafe-inline'",
            "img-src 'self' data:",
            "font-src 'self'",
            "connect-src 'self' " + " ".join(connects),
            "frame-src " + " ".join(frames),
            "form-action 'self'",
            "base-uri 'none'",
            f"frame-ancestors {ancestors}",
        ]
    )
    return {
        "Content-Security-Policy": policy,
        "X-Content-Type-Options": "nosniff",
        # Tokens travel in iframe URLs: never hand them on to another site.
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-store",
        "Cross-Origin-Opener-Policy": "same-origin-allow-popups",
    }
