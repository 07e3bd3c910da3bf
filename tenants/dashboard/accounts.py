"""Dashboard accounts: sign-up, sign-in with argon2 passwords, single sign-on, sign-out."""

from __future__ import annotations

import logging

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from portal.crypto import new_key
from portal.db import utcnow
from portal.errors import (
    Conflict,
    NotFound,
    TooManyRequests,
    Unauthorized,
    ValidationFailed,
)
from portal.identity.tokens import valid_email
from portal.ratelimit import SlidingWindow

from ..models import Tenant
from .models import DashboardUser, Membership

log = logging.getLogger("billport.dashboard")

MIN_PASSWORD = 10
MAX_PASSWORD = 1024
_HASHER = PasswordHasher()
# Verified when the email is unknown, so a wrong email costs as long as a wrong password.
_DUMMY_HASH = _HASHER.hash(new_key("", 24))


class SignInLimits:
    """Failed sign-ins allowed per account and per client address, per 15 minutes."""

    def __init__(self, per_account: int = 5, per_client: int = 20, window: float = 900) -> None:
        self.per_account = SlidingWindow(per_account, window)
        self.per_client = SlidingWindow(per_client, window)

    def check(self, email: str, client: str) -> None:
        if not self.per_account.allows(email) or not self.per_client.allows(client):
            raise TooManyRequests(
                "Too many failed sign-ins; wait a few minutes and try again.",
                code="sign_in_rate_limited",
            )

    def failed(self, email: str, client: str) -> None:
        self.per_account.hit(email)
        self.per_client.hit(client)


def normalize_email(email: str) -> str:
    email = email.strip().lower()
    if not valid_email(email):
        raise ValidationFailed("Enter a valid email address.", param="email")
    return email


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise ValidationFailed(
            f"Choose a password of at least {MIN_PASSWORD} characters.", param="password"
        )
    if len(password) > MAX_PASSWORD:
        raise ValidationFailed("That password is too long.", param="password")
    return password


class AccountService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def by_email(self, email: str) -> DashboardUser | None:
        return await self.session.scalar(
            select(DashboardUser).where(DashboardUser.email == email.strip().lower())
        )

    async def sign_up(self, email: str, password: str | None) -> DashboardUser:
        """A new account; it joins every tenant that invited its email."""
        email = normalize_email(email)
        user = DashboardUser(
            id=new_key("usr_", 20),
            email=email,
            password_hash=_HASHER.hash(check_password(password)) if password is not None else None,
            session_generation=0,
        )
        self.session.add(user)
        try:
            await self.session.flush()
        except IntegrityError:
            await self.session.rollback()
            raise Conflict(
                "An account with this email exists already; sign in instead.",
                code="account_exists",
                param="email",
            ) from None
        await self.session.execute(
            update(Membership)
            .where(Membership.email == email, Membership.user_id.is_(None))
            .values(user_id=user.id)
        )
        await self.session.commit()
        return user

    async def create_user(
        self, email: str, password: str, tenant_id: str | None = None, role: str = "owner"
    ) -> DashboardUser:
        """An account made by an operator (``billport admin create-user``)."""
        if tenant_id is not None and await self.session.get(Tenant, tenant_id) is None:
            raise NotFound(f"There is no tenant {tenant_id}.", code="tenant_not_found")
        user = await self.sign_up(email, password)
        if tenant_id is not None:
            invited = await self.session.scalar(
                select(Membership).where(
                    Membership.tenant_id == tenant_id, Membership.email == user.email
                )
            )
            if invited is None:
                self.session.add(
                    Membership(tenant_id=tenant_id, email=user.email, user_id=user.id, role=role)
                )
            else:
                invited.role = role
            await self.session.commit()
        return user

    async def sign_in(
        self, email: str, password: str, limits: SignInLimits, client: str
    ) -> DashboardUser:
        email = email.strip().lower()
        limits.check(email, client)
        user = await self.by_email(email) if valid_email(email) else None
        try:
            _HASHER.verify((user.password_hash if user else None) or _DUMMY_HASH, password)
        except (VerificationError, InvalidHashError):
            user = None
        if user is None or not user.password_hash:
            limits.failed(email, client)
            raise Unauthorized("The email or the password is wrong.", code="sign_in_failed")
        if _HASHER.check_needs_rehash(user.password_hash):
            user.password_hash = _HASHER.hash(password)
        user.last_sign_in_at = utcnow()
        await self.session.commit()
        return user

    async def single_sign_on(self, subject: str, email: str, email_verified: bool) -> DashboardUser:
        """The account of an identity provider's user: found by subject, else by verified
        email (linking it), else created."""
        user = await self.session.scalar(
            select(DashboardUser).where(DashboardUser.oidc_subject == subject)
        )
        if user is None and email_verified:
            user = await self.by_email(email)
            if user is not None and user.oidc_subject not in (None, subject):
                # Another identity of the provider already owns this account.
                raise Unauthorized(
                    "This email belongs to an account linked to another single sign-on "
                    "identity; sign in with that one.",
                    code="sso_identity_mismatch",
                )
            if user is not None:
                user.oidc_subject = subject
        if user is None:
            if not email_verified:
                raise Unauthorized(
                    "Your identity provider did not confirm your email address.",
                    code="sso_email_unverified",
                )
            user = await self.sign_up(email, None)
            user.oidc_subject = subject
        user.last_sign_in_at = utcnow()
        await self.session.commit()
        return user

    async def sign_out_everywhere(self, user: DashboardUser) -> None:
        user.session_generation += 1
        await self.session.commit()
