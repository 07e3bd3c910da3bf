"""The visitor page cache's keys and expiry."""

from __future__ import annotations

from portal import changes
from portal.identity.widget_session import WidgetSession
from widgets.page_cache import VisitorPageCache

SESSION = WidgetSession(tenant_id="ten_1", widget="plan-picker", parent_origin="https://a.test")


def test_only_visitors_pages_have_a_key() -> None:
    base = {"key": "bp_pub_x", "origin": "https://a.test"}
    assert VisitorPageCache.key("plan-picker", base, "fr") is not None
    assert VisitorPageCache.key("signup", base, "fr") is not None
    for identity in ("token", "email", "customer_id", "hash"):
        assert VisitorPageCache.key("plan-picker", {**base, identity: "x"}, "fr") is None
    assert VisitorPageCache.key("customer-portal", base, "fr") is None
    assert VisitorPageCache.key("plan-picker", base, "fr") != VisitorPageCache.key(
        "plan-picker", base, "en"
    )
    before = VisitorPageCache.key("plan-picker", base, "fr")
    changes.changed()
    assert VisitorPageCache.key("plan-picker", base, "fr") != before


def test_pages_expire_and_the_oldest_go_first() -> None:
    cache = VisitorPageCache(ttl=60, size=2)
    for n in range(3):
        cache.put(("k", str(n)), f"<p>{n}</p>", {}, SESSION, "signed")
    assert cache.get(("k", "0")) is None
    assert cache.get(("k", "2")) is not None
    expired = VisitorPageCache(ttl=-1)
    expired.put(("k",), "<p></p>", {}, SESSION, "signed")
    assert expired.get(("k",)) is None
