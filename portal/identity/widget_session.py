"""Widget sessions: what an iframe page may do, signed, carried by the iframe as a header.

Browsers that block third-party cookies (Safari) would lose a cookie set inside an iframe;
a signed value the page keeps in memory needs no cookie at all.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from portal.errors import Unauthorized

HEADER = "X-Billport-Widget-Session"
LIFETIME = 2 * 3600
_SALT = "billport.widget-session.v1"


@dataclass(frozen=True)
class WidgetSession:
    tenant_id: str
    widget: str
    parent_origin: str
    customer_id: str | None = None
    email: str | None = None
    user_id: str | None = None
    billing_page_id: str | None = None

    @property
    def anonymous(self) -> bool:
        """A visitor's: the page does not say who the user is."""
        return self.customer_id is None and self.email is None and self.user_id is None


class WidgetSessionSigner:
    def __init__(self, secret_key: str) -> None:
        self._serializer = URLSafeTimedSerializer(secret_key, salt=_SALT)

    def sign(self, session: WidgetSession) -> str:
        return self._serializer.dumps({k: v for k, v in asdict(session).items() if v is not None})

    def verify(self, value: str | None, *, max_age: int = LIFETIME) -> WidgetSession:
        if not value:
            raise Unauthorized(
                f"This widget request needs the {HEADER} header its page was given.",
                code="widget_session_missing",
            )
        try:
            data = self._serializer.loads(value, max_age=max_age)
        except SignatureExpired:
            raise Unauthorized(
                "This page has been open too long; reload it to continue.",
                code="widget_session_expired",
            ) from None
        except BadSignature:
            raise Unauthorized(
                "The widget session is not valid.", code="widget_session_invalid"
            ) from None
        try:
            return WidgetSession(**data)
        except TypeError:
            raise Unauthorized(
                "The widget session is not valid.", code="widget_session_invalid"
            ) from None
