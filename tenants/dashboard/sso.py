"""Single sign-on to the dashboard through an OpenID Connect provider.

The authorization code flow with PKCE (S256), through Authlib's OAuth 2 client; the ID token
is checked with joserfc against the provider's published keys. What one sign-in must remember
between leaving for the provider and coming back (state, nonce, code verifier, where to go
next) travels in a short-lived signed cookie, not in server memory: portals run as several
processes and the callback may reach another one.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hmac
import logging
import secrets
import warnings
from collections.abc import Mapping
from typing import Any, cast

import httpx
from authlib.deprecate import AuthlibDeprecationWarning
from itsdangerous import BadSignature, URLSafeTimedSerializer
from joserfc import jwt
from joserfc.errors import (
    BadSignatureError,
    ExpiredTokenError,
    InvalidClaimError,
    InvalidKeyIdError,
    JoseError,
    MissingClaimError,
)
from joserfc.jwk import KeySet
from litestar import Response
from litestar.datastructures import State

from portal.errors import BadRequest, Forbidden, Unauthorized, Unavailable
from portal.identity.tokens import valid_email
from portal.settings import Settings

with warnings.catch_warnings():
    # Authlib prefers the httpx2 package and warns when it falls back to httpx, which it
    # supports in full; Billport uses httpx everywhere else.
    warnings.filterwarnings(
        "ignore", category=AuthlibDeprecationWarning, message="The httpx module is deprecated"
    )
    from authlib.integrations.httpx_client import AsyncOAuth2Client, OAuthError

log = logging.getLogger("billport.dashboard.sso")

FLOW_COOKIE = "billport_sso"
FLOW_PATH = "/dashboard/sso"
FLOW_SALT = "billport-dashboard-sso"
# Long enough to type a password and answer a second factor at the provider.
FLOW_MAX_AGE = 600
CALLBACK_PATH = "/dashboard/sso/callback"
# Asymmetric algorithms only: an ID token is checked against the provider's public keys.
ID_TOKEN_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384")
# Clock difference tolerated between Billport and the provider.
LEEWAY = 60
TIMEOUT = 10.0
# Errors a provider may send back instead of a code (RFC 6749 4.1.2.1, OpenID Connect 3.1.2.6).
PROVIDER_ERRORS = {
    "access_denied",
    "invalid_request",
    "unauthorized_client",
    "unsupported_response_type",
    "invalid_scope",
    "server_error",
    "temporarily_unavailable",
    "interaction_required",
    "login_required",
    "account_selection_required",
    "consent_required",
    "invalid_request_uri",
    "invalid_request_object",
    "request_not_supported",
    "request_uri_not_supported",
    "registration_not_supported",
}


@dataclasses.dataclass(frozen=True)
class LoginFlow:
    """One sign-in in progress, between the redirect to the provider and its callback."""

    state: str
    nonce: str
    code_verifier: str
    next_path: str

    @classmethod
    def begin(cls, next_path: str) -> LoginFlow:
        return cls(
            state=secrets.token_urlsafe(24),
            nonce=secrets.token_urlsafe(24),
            code_verifier=secrets.token_urlsafe(48),
            next_path=next_path,
        )


class LoginFlowCookie:
    """The signed cookie carrying a ``LoginFlow``: HttpOnly, SameSite=Lax, 10 minutes.

    Lax still sends it on the provider's top-level redirect back to the callback.
    """

    def __init__(self, secret_key: str, public_url: str) -> None:
        self._serializer = URLSafeTimedSerializer(secret_key, salt=FLOW_SALT)
        self.secure = public_url.startswith("https://")

    def dump(self, flow: LoginFlow) -> str:
        return self._serializer.dumps(dataclasses.asdict(flow))

    def load(self, value: str | None) -> LoginFlow | None:
        if not value or len(value) > 4096:
            return None
        try:
            data = self._serializer.loads(value, max_age=FLOW_MAX_AGE)
            return LoginFlow(
                state=str(data["state"]),
                nonce=str(data["nonce"]),
                code_verifier=str(data["code_verifier"]),
                next_path=str(data["next_path"]),
            )
        except (BadSignature, KeyError, TypeError, ValueError):
            return None

    def set(self, response: Response[Any], flow: LoginFlow) -> None:
        response.set_cookie(
            FLOW_COOKIE,
            self.dump(flow),
            max_age=FLOW_MAX_AGE,
            path=FLOW_PATH,
            httponly=True,
            secure=self.secure,
            samesite="lax",
        )

    def clear(self, response: Response[Any]) -> None:
        response.delete_cookie(FLOW_COOKIE, path=FLOW_PATH)


@dataclasses.dataclass(frozen=True)
class ProviderMetadata:
    """The parts of the provider's discovery document that Billport uses."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    userinfo_endpoint: str | None
    token_endpoint_auth_method: str


@dataclasses.dataclass(frozen=True)
class SsoIdentity:
    """Who the provider says signed in, and where the dashboard should take them."""

    subject: str
    email: str
    email_verified: bool
    next_path: str


def _unreachable(name: str) -> Unavailable:
    return Unavailable(
        f"{name} could not be reached to sign you in. Try again in a moment, or sign in "
        "with your email and password.",
        code="sso_provider_unreachable",
        retryable=True,
    )


def _misconfigured(name: str) -> Unavailable:
    return Unavailable(
        f"Signing in with {name} is not set up correctly; the error was logged for the "
        "operator. Sign in with your email and password meanwhile.",
        code="sso_misconfigured",
    )


def _token_invalid(name: str, reason: str) -> Unauthorized:
    return Unauthorized(
        f"The sign-in from {name} could not be verified: {reason}. Start again from the "
        "sign-in page.",
        code="sso_token_invalid",
    )


class OidcProvider:
    """One OpenID Connect provider that dashboard users may sign in with."""

    def __init__(
        self,
        *,
        issuer: str,
        client_id: str,
        client_secret: str,
        redirect_uri: str,
        secret_key: str,
        public_url: str,
        name: str = "single sign-on",
        scopes: str = "openid email profile",
        timeout: float = TIMEOUT,
    ) -> None:
        self.issuer = issuer
        self.client_id = client_id
        self._client_secret = client_secret
        self.redirect_uri = redirect_uri
        self.name = name
        self.scopes = scopes
        self.timeout = timeout
        self.cookie = LoginFlowCookie(secret_key, public_url)
        self._metadata: ProviderMetadata | None = None
        self._keys: KeySet | None = None
        self._lock: asyncio.Lock | None = None

    def __repr__(self) -> str:
        return f"OidcProvider(issuer={self.issuer!r}, client_id={self.client_id!r})"

    @classmethod
    def from_settings(cls, settings: Settings) -> OidcProvider | None:
        """The provider the settings name, or None when single sign-on is not configured."""
        if not (settings.oidc_issuer and settings.oidc_client_id and settings.oidc_client_secret):
            return None
        return cls(
            issuer=settings.oidc_issuer,
            client_id=settings.oidc_client_id,
            client_secret=settings.oidc_client_secret,
            redirect_uri=settings.public_url.rstrip("/") + CALLBACK_PATH,
            secret_key=settings.secret_key,
            public_url=settings.public_url,
            name=settings.oidc_name,
            scopes=settings.oidc_scopes,
        )

    # -- the flow ---------------------------------------------------------------------------

    async def start(self, next_path: str) -> tuple[str, LoginFlow]:
        """The provider's authorization URL for a new sign-in, and the flow to remember."""
        metadata = await self.metadata()
        flow = LoginFlow.begin(next_path)
        async with self._client(metadata) as client:
            url, _ = client.create_authorization_url(
                metadata.authorization_endpoint,
                state=flow.state,
                code_verifier=flow.code_verifier,
                nonce=flow.nonce,
            )
        return str(url), flow

    async def finish(self, flow: LoginFlow | None, params: Mapping[str, str]) -> SsoIdentity:
        """Check the provider's answer against the flow this browser started; who signed in."""
        if flow is None:
            raise BadRequest(
                "This sign-in expired or was started in another browser. Start again from "
                "the sign-in page.",
                code="sso_expired",
            )
        returned_state = params.get("state") or ""
        if not hmac.compare_digest(returned_state.encode(), flow.state.encode()):
            raise BadRequest(
                "This answer from the identity provider does not belong to the sign-in this "
                "browser started. Start again from the sign-in page.",
                code="sso_state_mismatch",
            )
        error = params.get("error")
        if error:
            raise self._provider_refused(error)
        code = params.get("code")
        if not code:
            raise BadRequest(
                f"{self.name} sent no sign-in code back. Start again from the sign-in page.",
                code="sso_failed",
            )
        metadata = await self.metadata()
        token = await self._exchange(metadata, code, flow.code_verifier)
        claims = await self._verified_claims(metadata, token.get("id_token"), flow.nonce)
        email, verified = claims.get("email"), claims.get("email_verified")
        if not email and metadata.userinfo_endpoint:
            profile = await self._userinfo(metadata, token)
            if profile.get("sub") != claims["sub"]:
                raise _token_invalid(self.name, "its profile belongs to another user")
            email, verified = profile.get("email"), profile.get("email_verified")
        if not isinstance(email, str) or not valid_email(email.strip().lower()):
            raise Unauthorized(
                f"{self.name} did not share a usable email address, which Billport needs for "
                "your account.",
                code="sso_email_missing",
            )
        return SsoIdentity(
            subject=str(claims["sub"]),
            email=email.strip().lower(),
            email_verified=verified is True or verified == "true",
            next_path=flow.next_path,
        )

    def _provider_refused(self, error: str) -> BadRequest | Forbidden | Unavailable:
        if error == "access_denied":
            return Forbidden(
                f"Signing in with {self.name} was cancelled or refused; nothing was changed.",
                code="sso_denied",
            )
        if error in {"server_error", "temporarily_unavailable"}:
            return Unavailable(
                f"{self.name} could not sign you in just now. Try again in a moment.",
                code="sso_provider_unavailable",
                retryable=True,
            )
        # Only codes the specifications define are shown: the parameter comes from the URL.
        shown = f" ({error})" if error in PROVIDER_ERRORS else ""
        return BadRequest(
            f"{self.name} did not complete the sign-in{shown}. Start again from the sign-in page.",
            code="sso_provider_error",
        )

    # -- talking to the provider ------------------------------------------------------------

    def _client(self, metadata: ProviderMetadata) -> AsyncOAuth2Client:
        return AsyncOAuth2Client(
            client_id=self.client_id,
            client_secret=self._client_secret,
            token_endpoint_auth_method=metadata.token_endpoint_auth_method,
            scope=self.scopes,
            redirect_uri=self.redirect_uri,
            code_challenge_method="S256",
            timeout=self.timeout,
        )

    async def metadata(self) -> ProviderMetadata:
        """The discovery document, fetched on first use and kept; a failure is not kept."""
        if self._metadata is not None:
            return self._metadata
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._metadata is None:
                self._metadata = await self._discover()
        return self._metadata

    async def _discover(self) -> ProviderMetadata:
        url = self.issuer.rstrip("/") + "/.well-known/openid-configuration"
        document = await self._get_json(url, "discovery document")
        if document.get("issuer") != self.issuer:
            log.warning(
                "the OpenID provider's discovery document names another issuer",
                extra={"configured": self.issuer, "announced": str(document.get("issuer"))},
            )
            raise _misconfigured(self.name)
        endpoints = {}
        for field in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
            value = document.get(field)
            if not isinstance(value, str) or not value.startswith(("https://", "http://")):
                log.warning("the OpenID provider's discovery document lacks %s", field)
                raise _misconfigured(self.name)
            endpoints[field] = value
        userinfo = document.get("userinfo_endpoint")
        methods = document.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
        method = "client_secret_basic"
        if "client_secret_basic" not in methods and "client_secret_post" in methods:
            method = "client_secret_post"
        return ProviderMetadata(
            issuer=self.issuer,
            authorization_endpoint=endpoints["authorization_endpoint"],
            token_endpoint=endpoints["token_endpoint"],
            jwks_uri=endpoints["jwks_uri"],
            userinfo_endpoint=userinfo if isinstance(userinfo, str) and userinfo else None,
            token_endpoint_auth_method=method,
        )

    async def _get_json(self, url: str, what: str) -> dict[str, Any]:
        try:
            async with httpx.AsyncClient(timeout=self.timeout) as http:
                answer = await http.get(url, headers={"Accept": "application/json"})
        except httpx.HTTPError as exc:
            log.warning(
                "the OpenID provider could not be reached for its %s: %s",
                what,
                type(exc).__name__,
            )
            raise _unreachable(self.name) from None
        if answer.status_code != 200:
            log.warning("the OpenID provider answered %s for its %s", answer.status_code, what)
            # A 4xx means the address is wrong, not that the provider is briefly away.
            if answer.status_code < 500:
                raise _misconfigured(self.name)
            raise _unreachable(self.name)
        try:
            document = answer.json()
        except ValueError:
            document = None
        if not isinstance(document, dict):
            log.warning("the OpenID provider's %s is not a JSON object", what)
            raise _misconfigured(self.name)
        return document

    async def _keyset(self, refresh: bool = False) -> KeySet:
        if self._keys is None or refresh:
            metadata = await self.metadata()
            document = await self._get_json(metadata.jwks_uri, "signing keys")
            try:
                self._keys = KeySet.import_key_set(cast(Any, document))
            except (JoseError, KeyError, TypeError, ValueError):
                log.warning("the OpenID provider's signing keys could not be read")
                raise _misconfigured(self.name) from None
        return self._keys

    async def _exchange(
        self, metadata: ProviderMetadata, code: str, code_verifier: str
    ) -> dict[str, Any]:
        try:
            async with self._client(metadata) as client:
                token = await client.fetch_token(
                    metadata.token_endpoint,
                    grant_type="authorization_code",
                    code=code,
                    code_verifier=code_verifier,
                )
        except OAuthError as exc:
            if exc.error in {"invalid_client", "unauthorized_client"}:
                log.warning("the OpenID provider refused Billport's client credentials")
                raise _misconfigured(self.name) from None
            raise BadRequest(
                f"{self.name} did not accept this sign-in (it may have been used already). "
                "Start again from the sign-in page.",
                code="sso_code_rejected",
            ) from None
        except httpx.HTTPStatusError as exc:
            log.warning(
                "the OpenID provider's token endpoint answered %s", exc.response.status_code
            )
            raise _unreachable(self.name) from None
        except (httpx.HTTPError, ValueError) as exc:
            log.warning("the OpenID provider's token endpoint failed: %s", type(exc).__name__)
            raise _unreachable(self.name) from None
        return dict(token)

    async def _userinfo(self, metadata: ProviderMetadata, token: dict[str, Any]) -> dict[str, Any]:
        access_token = token.get("access_token")
        if not metadata.userinfo_endpoint or not isinstance(access_token, str):
            return {}
        try:
            async with httpx.AsyncClient(timeout=self.timeout) as http:
                answer = await http.get(
                    metadata.userinfo_endpoint,
                    headers={
                        "Authorization": f"Bearer {access_token}",
                        "Accept": "application/json",
                    },
                )
            answer.raise_for_status()
            profile = answer.json()
        except (httpx.HTTPError, ValueError) as exc:
            log.warning("the OpenID provider's userinfo endpoint failed: %s", type(exc).__name__)
            raise _unreachable(self.name) from None
        return profile if isinstance(profile, dict) else {}

    async def _verified_claims(
        self, metadata: ProviderMetadata, id_token: object, nonce: str
    ) -> dict[str, Any]:
        """The ID token's claims once its signature, issuer, audience, expiry and nonce hold."""
        if not isinstance(id_token, str) or not id_token:
            raise _token_invalid(self.name, "it sent no ID token")
        keys = await self._keyset()
        try:
            try:
                token = jwt.decode(id_token, keys, algorithms=ID_TOKEN_ALGORITHMS)
            except InvalidKeyIdError:
                # The provider may have rotated its keys since they were read.
                keys = await self._keyset(refresh=True)
                token = jwt.decode(id_token, keys, algorithms=ID_TOKEN_ALGORITHMS)
        except (BadSignatureError, InvalidKeyIdError):
            raise _token_invalid(
                self.name, "its signature does not match the provider's keys"
            ) from None
        except (JoseError, KeyError, TypeError, ValueError):
            raise _token_invalid(self.name, "its ID token is malformed") from None
        claims = token.claims
        registry = jwt.JWTClaimsRegistry(
            leeway=LEEWAY,
            iss={"essential": True, "value": metadata.issuer},
            aud={"essential": True, "value": self.client_id},
            sub={"essential": True},
            exp={"essential": True},
            iat={"essential": True},
            nonce={"essential": True, "value": nonce},
        )
        try:
            registry.validate(claims)
        except ExpiredTokenError:
            raise _token_invalid(self.name, "it has expired") from None
        except MissingClaimError as exc:
            missing = exc.claim.split(",")
            reason = _claim_problem("nonce") if "nonce" in missing else "it lacks required claims"
            raise _token_invalid(self.name, f"{reason} ({', '.join(missing)})") from None
        except InvalidClaimError as exc:
            raise _token_invalid(self.name, _claim_problem(exc.claim)) from None
        except JoseError:
            raise _token_invalid(self.name, "its ID token is malformed") from None
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        if len(audiences) > 1 and claims.get("azp") != self.client_id:
            raise _token_invalid(self.name, _claim_problem("aud"))
        return claims


def _claim_problem(claim: str) -> str:
    return {
        "iss": "it was issued by another provider",
        "aud": "it was issued for another application",
        "nonce": "it does not belong to this sign-in",
        "exp": "it has expired",
        "iat": "it was issued in the future",
        "sub": "it names no user",
    }.get(claim, "its ID token is malformed")


def sso_provider(state: State) -> OidcProvider | None:
    """The app's single sign-on provider, built from its settings on first use (None when off)."""
    if "sso" not in state:
        state.sso = OidcProvider.from_settings(state.settings)
    return cast("OidcProvider | None", state.sso)
