"""A small OpenID Connect provider for tests, served with ``tests.servers.ServerThread``.

It approves every authorization request at once for its current ``user`` and can be told to
misbehave in the ways a real provider (or an attacker in between) might: refuse, sign with
another key, send another nonce or audience, hand out expired tokens, or be down.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import secrets
import time
import uuid
from typing import Any
from urllib.parse import unquote, urlencode

from joserfc import jwt
from joserfc.jwk import RSAKey
from litestar import Litestar, Request, Response, get, post
from litestar.response import Redirect

CLIENT_ID = "billport-dashboard"
CLIENT_SECRET = "test-client-secret-" + "s" * 24


@dataclasses.dataclass
class IdpUser:
    sub: str
    email: str
    email_verified: bool = True

    @classmethod
    def fresh(cls, email_verified: bool = True) -> IdpUser:
        tag = uuid.uuid4().hex[:10]
        return cls(f"idp|{tag}", f"sso-{tag}@example.com", email_verified)


@dataclasses.dataclass
class Grant:
    client_id: str
    redirect_uri: str
    code_challenge: str
    nonce: str | None
    user: IdpUser


def s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


class LocalOidcProvider:
    """The provider at ``issuer``; ``app`` is its ASGI application."""

    def __init__(
        self, issuer: str, client_id: str = CLIENT_ID, client_secret: str = CLIENT_SECRET
    ) -> None:
        self.issuer = issuer
        self.client_id = client_id
        self.client_secret = client_secret
        self.key = RSAKey.generate_key(2048, parameters={"kid": "idp-1", "use": "sig"})
        self.redirect_uris: set[str] = set()
        self.codes: dict[str, Grant] = {}
        self.access_tokens: dict[str, IdpUser] = {}
        self.reset()
        self.app = self._build_app()

    def reset(self) -> None:
        """Back to a well-behaved provider with a new user."""
        self.user = IdpUser.fresh()
        self.deny = False
        self.down_status: int | None = None
        self.signing_key: RSAKey | None = None
        self.nonce: str | None = None
        self.audience: str | None = None
        self.lifetime = 300
        self.email_in_id_token = True
        self.auth_methods = ["client_secret_basic", "client_secret_post"]
        self.token_requests: list[dict[str, str]] = []

    def rogue_key(self, same_kid: bool) -> RSAKey:
        kid = "idp-1" if same_kid else "rogue-1"
        return RSAKey.generate_key(2048, parameters={"kid": kid, "use": "sig"})

    # -- what the endpoints answer --------------------------------------------------------

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "jwks_uri": f"{self.issuer}/jwks",
            "userinfo_endpoint": f"{self.issuer}/userinfo",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": self.auth_methods,
            "scopes_supported": ["openid", "email", "profile"],
        }

    def authorize(self, query: dict[str, str]) -> Response[Any]:
        redirect_uri = query.get("redirect_uri", "")
        if query.get("client_id") != self.client_id or redirect_uri not in self.redirect_uris:
            return Response("unknown client or redirect_uri", status_code=400)

        def back(**params: str) -> Response[Any]:
            params["state"] = query.get("state", "")
            return Redirect(f"{redirect_uri}?{urlencode(params)}", status_code=302)

        if (
            query.get("response_type") != "code"
            or "openid" not in query.get("scope", "").split()
            or query.get("code_challenge_method") != "S256"
            or not query.get("code_challenge")
        ):
            return back(error="invalid_request")
        if self.deny:
            return back(error="access_denied", error_description="The user said no")
        code = secrets.token_urlsafe(24)
        self.codes[code] = Grant(
            self.client_id,
            redirect_uri,
            query["code_challenge"],
            query.get("nonce"),
            dataclasses.replace(self.user),
        )
        return back(code=code)

    def token(self, form: dict[str, str], authorization: str | None) -> Response[Any]:
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        method = "client_secret_post"
        if authorization and authorization.startswith("Basic "):
            method = "client_secret_basic"
            decoded = base64.b64decode(authorization[6:]).decode()
            client_id, _, client_secret = (unquote(part) for part in decoded.partition(":"))
        recorded = {k: v for k, v in form.items() if k != "client_secret"}
        self.token_requests.append({**recorded, "client_auth": method})
        if method not in self.auth_methods:
            return Response({"error": "invalid_client"}, status_code=401)
        if client_id != self.client_id or client_secret != self.client_secret:
            return Response({"error": "invalid_client"}, status_code=401)
        grant = self.codes.pop(form.get("code", ""), None)
        if (
            form.get("grant_type") != "authorization_code"
            or grant is None
            or grant.redirect_uri != form.get("redirect_uri")
            or s256(form.get("code_verifier", "")) != grant.code_challenge
        ):
            return Response({"error": "invalid_grant"}, status_code=400)
        access_token = secrets.token_urlsafe(24)
        self.access_tokens[access_token] = grant.user
        return Response(
            {
                "access_token": access_token,
                "token_type": "Bearer",
                "expires_in": 300,
                "id_token": self.id_token(grant),
            },
            headers={"Cache-Control": "no-store"},
        )

    def id_token(self, grant: Grant) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": grant.user.sub,
            "aud": self.audience or grant.client_id,
            "iat": now,
            "exp": now + self.lifetime,
            "auth_time": now,
        }
        nonce = self.nonce or grant.nonce
        if nonce:
            claims["nonce"] = nonce
        if self.email_in_id_token:
            claims["email"] = grant.user.email
            claims["email_verified"] = grant.user.email_verified
        key = self.signing_key or self.key
        return jwt.encode({"alg": "RS256", "kid": key.kid}, claims, key)

    def userinfo(self, authorization: str | None) -> Response[Any]:
        token = (authorization or "").removeprefix("Bearer ")
        user = self.access_tokens.get(token)
        if user is None:
            return Response({"error": "invalid_token"}, status_code=401)
        return Response(
            {"sub": user.sub, "email": user.email, "email_verified": user.email_verified}
        )

    def _build_app(self) -> Litestar:
        provider = self

        def down() -> Response[Any] | None:
            status = provider.down_status
            return Response({"error": "down"}, status_code=status) if status else None

        @get("/.well-known/openid-configuration")
        async def discovery() -> Response[Any]:
            return down() or Response(provider.discovery())

        @get("/authorize")
        async def authorize(request: Request[Any, Any, Any]) -> Response[Any]:
            return down() or provider.authorize(dict(request.query_params))

        @post("/token")
        async def token(request: Request[Any, Any, Any]) -> Response[Any]:
            form = await request.form()
            fields = {key: str(value) for key, value in form.items()}
            return down() or provider.token(fields, request.headers.get("authorization"))

        @get("/jwks")
        async def jwks() -> Response[Any]:
            return down() or Response({"keys": [provider.key.as_dict(private=False)]})

        @get("/userinfo")
        async def userinfo(request: Request[Any, Any, Any]) -> Response[Any]:
            return down() or provider.userinfo(request.headers.get("authorization"))

        return Litestar(route_handlers=[discovery, authorize, token, jwks, userinfo])
