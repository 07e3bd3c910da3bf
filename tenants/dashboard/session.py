"""The dashboard's session cookie and the CSRF token of its forms.

The cookie is signed with itsdangerous (BILLPORT_SECRET_KEY), HttpOnly, SameSite=Lax and
Secure when the portal is served over https. Every visitor gets one, signed-in or not: its
random ``nonce`` keys the CSRF token of every form, sign-in included. A form is accepted only
with the token of the cookie it came with, and from the portal's own origin.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import secrets
from urllib.parse import urlsplit

from itsdangerous import BadSignature, URLSafeTimedSerializer

COOKIE = "billport_dashboard"
CSRF_FIELD = "csrf_token"
# A session lasts a working week without a sign-in.
MAX_AGE = 7 * 86_400


@dataclasses.dataclass(frozen=True)
class DashboardSession:
    nonce: str
    user_id: str | None = None
    generation: int = 0

    @classmethod
    def anonymous(cls) -> DashboardSession:
        return cls(nonce=secrets.token_urlsafe(18))


class SessionCookie:
    def __init__(self, secret_key: str, public_url: str) -> None:
        self._serializer = URLSafeTimedSerializer(secret_key, salt="billport-dashboard-session")
        self._csrf_key = hashlib.sha256(f"csrf:{secret_key}".encode()).digest()
        self.secure = public_url.startswith("https://")
        parts = urlsplit(public_url)
        self.origin = f"{parts.scheme}://{parts.netloc}"

    def dump(self, session: DashboardSession) -> str:
        return self._serializer.dumps(dataclasses.asdict(session))

    def load(self, value: str | None) -> DashboardSession | None:
        if not value or len(value) > 4096:
            return None
        try:
            data = self._serializer.loads(value, max_age=MAX_AGE)
            return DashboardSession(
                nonce=str(data["nonce"]),
                user_id=data.get("user_id"),
                generation=int(data.get("generation", 0)),
            )
        except (BadSignature, KeyError, TypeError, ValueError, OverflowError):
            return None

    def csrf_token(self, session: DashboardSession) -> str:
        return hmac.new(self._csrf_key, session.nonce.encode(), hashlib.sha256).hexdigest()

    def form_is_genuine(
        self, session: DashboardSession, token: str | None, origin: str | None, host_origin: str
    ) -> bool:
        """The token matches the cookie, and the browser says the form is one of ours."""
        if origin and origin not in {self.origin, host_origin}:
            return False
        # Bytes: comparing str refuses non-ASCII input with a TypeError.
        expected = self.csrf_token(session).encode()
        return bool(token) and hmac.compare_digest(expected, (token or "").encode())
