"""What the auth service decides: accounts, logins, sessions, tokens and revocations.

The HTTP layer (:mod:`authdrill.stack.auth.app`) only translates requests into calls
here and the exceptions below into responses.

* A login creates a *session* (``sid``): one refresh-token family plus the access
  tokens minted from it. Every access token carries its ``sid``.
* Refresh tokens are 256-bit random strings, stored hashed, rotated on every use within
  the session's absolute lifetime. Presenting a used one again means it was stolen or
  replayed: the whole session is revoked.
* Revoking a session (logout, reuse) appends it to the revocation feed, which backends
  poll; an entry lives until every access token of that session has expired.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from authdrill.errors import InvalidTokenError
from authdrill.stack import jose
from authdrill.stack.auth.keyring import Keyring
from authdrill.stack.auth.passwords import (
    MAX_PASSWORD_LENGTH,
    Hasher,
    password_problems,
    username_problems,
)
from authdrill.stack.auth.schema import feed_meta, refresh_tokens, revocations, sessions, users
from authdrill.stack.auth.settings import AuthSettings
from authdrill.stack.auth.throttle import LoginThrottle
from authdrill.stack.claims import (
    ACCESS_TOKEN_USE,
    AccessClaims,
    ClaimPolicy,
    validate_access_claims,
)
from authdrill.stack.db import Database

__all__ = [
    "Authority",
    "FeedPage",
    "InvalidCredentials",
    "InvalidGrant",
    "RegistrationRefused",
    "Throttled",
    "TokenPair",
]

DEFAULT_LEEWAY_S = 30.0
_FEED_ID_KEY = "feed_id"


class InvalidCredentials(Exception):  # noqa: N818 - an outcome, mapped to 401
    """Unknown user or wrong password (deliberately indistinguishable)."""


class Throttled(Exception):  # noqa: N818 - an outcome, mapped to 429
    """Too many failed logins; try again after ``retry_after_s``."""

    def __init__(self, retry_after_s: float) -> None:
        super().__init__(f"retry after {retry_after_s:.0f} s")
        self.retry_after_s = retry_after_s


class RegistrationRefused(Exception):  # noqa: N818 - an outcome, mapped to 400/409
    """The username or password is not acceptable, or the username is taken."""

    def __init__(self, code: str, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.code = code
        self.problems = problems


class InvalidGrant(Exception):  # noqa: N818 - an outcome, mapped to 401
    """A refresh token that is unknown, expired, revoked or reused."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class TokenPair:
    """What a login or refresh returns."""

    access_token: str
    expires_in: float
    refresh_token: str
    refresh_expires_in: float
    sid: str
    user_id: str

    def as_json(self) -> dict[str, Any]:
        """The OAuth-style JSON body."""
        return {
            "access_token": self.access_token,
            "token_type": "Bearer",
            "expires_in": round(self.expires_in),
            "refresh_token": self.refresh_token,
            "refresh_expires_in": round(self.refresh_expires_in),
            "session_id": self.sid,
            "user_id": self.user_id,
        }


@dataclass(frozen=True, slots=True)
class FeedPage:
    """One page of the revocation feed."""

    feed_id: str
    cursor: int
    entries: tuple[tuple[str, float], ...]
    more: bool


def _hash_refresh(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Authority:
    """Accounts, sessions and tokens over one database and one keyring."""

    def __init__(
        self,
        *,
        db: Database,
        keyring: Keyring,
        hasher: Hasher,
        throttle: LoginThrottle,
        settings: AuthSettings,
        feed_id: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.db = db
        self.keyring = keyring
        self.hasher = hasher
        self.throttle = throttle
        self.settings = settings
        self.feed_id = feed_id
        self._clock = clock
        self.claim_policy = ClaimPolicy(
            issuer=settings.issuer,
            audience=settings.audience,
            max_lifetime_s=settings.access_ttl_s,
            leeway_s=settings.clock_leeway_s,
        )

    @property
    def retire_after_s(self) -> float:
        """How long a retired key must stay published: one access lifetime plus leeway."""
        return self.settings.access_ttl_s + self.settings.clock_leeway_s

    # ------------------------------------------------------------------ accounts
    async def register(self, username: str, password: str) -> str:
        """Create an account; returns its user id.

        Raises:
            RegistrationRefused: ``invalid_request`` (policy) or ``username_taken``.
        """
        account = username.strip().lower()
        problems = username_problems(account) + password_problems(password, username=account)
        if problems:
            raise RegistrationRefused("invalid_request", problems)
        password_hash = await self.hasher.hash(password)
        user_id = secrets.token_urlsafe(16)
        try:
            async with self.db.write() as conn:
                await conn.execute(
                    users.insert().values(
                        id=user_id,
                        username=account,
                        password_hash=password_hash,
                        created_at=self._clock(),
                    )
                )
        except IntegrityError:
            raise RegistrationRefused("username_taken", ["username is taken"]) from None
        return user_id

    async def login(self, username: str, password: str, *, client: str) -> TokenPair:
        """Check credentials and open a session.

        Raises:
            Throttled: too many recent failures for this account and client, or client.
            InvalidCredentials: unknown user or wrong password (same time, same error).
            HasherBusy: too many hashes queued; shed load.
        """
        account = username.strip().lower()
        wait = self.throttle.retry_after(account, client)
        if wait > 0:
            raise Throttled(wait)
        async with self.db.read() as conn:
            row = (
                await conn.execute(
                    sa.select(users.c.id, users.c.password_hash).where(users.c.username == account)
                )
            ).first()
        candidate = password[: MAX_PASSWORD_LENGTH + 1]
        if row is None or len(password) > MAX_PASSWORD_LENGTH:
            await self.hasher.burn(candidate)
            self.throttle.record_failure(account, client)
            raise InvalidCredentials
        matches, needs_rehash = await self.hasher.verify(row.password_hash, candidate)
        if not matches:
            self.throttle.record_failure(account, client)
            raise InvalidCredentials
        self.throttle.record_success(account, client)
        if needs_rehash:
            new_hash = await self.hasher.hash(password)
            async with self.db.write() as conn:
                await conn.execute(
                    users.update().where(users.c.id == row.id).values(password_hash=new_hash)
                )
        return await self._open_session(row.id, account)

    # ------------------------------------------------------------------ tokens
    def _mint_access(self, *, user_id: str, username: str, sid: str, now: float) -> str:
        kid, alg, private_key = self.keyring.signing_key()
        claims = {
            "iss": self.settings.issuer,
            "aud": self.settings.audience,
            "sub": user_id,
            "name": username,
            "sid": sid,
            "jti": secrets.token_urlsafe(16),
            "iat": int(now),
            "exp": int(now + self.settings.access_ttl_s),
            "token_use": ACCESS_TOKEN_USE,
        }
        return jose.sign(claims, private_key, alg=alg, kid=kid)

    async def _insert_refresh(
        self, conn: AsyncConnection, sid: str, expires_at: float, now: float
    ) -> str:
        token = secrets.token_urlsafe(32)  # 256 bits
        await conn.execute(
            refresh_tokens.insert().values(
                token_hash=_hash_refresh(token), sid=sid, issued_at=now, expires_at=expires_at
            )
        )
        return token

    async def _open_session(self, user_id: str, username: str) -> TokenPair:
        now = self._clock()
        sid = secrets.token_urlsafe(16)
        expires_at = now + self.settings.refresh_ttl_s
        async with self.db.write() as conn:
            await conn.execute(
                sessions.insert().values(
                    sid=sid, user_id=user_id, created_at=now, expires_at=expires_at
                )
            )
            refresh = await self._insert_refresh(conn, sid, expires_at, now)
        return TokenPair(
            access_token=self._mint_access(user_id=user_id, username=username, sid=sid, now=now),
            expires_in=self.settings.access_ttl_s,
            refresh_token=refresh,
            refresh_expires_in=expires_at - now,
            sid=sid,
            user_id=user_id,
        )

    async def refresh(self, refresh_token: str) -> TokenPair:
        """Rotate a refresh token: the old one is spent, a new pair is issued.

        Raises:
            InvalidGrant: ``invalid_grant`` (unknown, expired, revoked session) or
                ``refresh_token_reused`` (the session has just been revoked).
        """
        now = self._clock()
        token_hash = _hash_refresh(refresh_token)
        async with self.db.write() as conn:
            row = (
                await conn.execute(
                    sa.select(
                        refresh_tokens.c.used_at,
                        refresh_tokens.c.expires_at,
                        sessions.c.sid,
                        sessions.c.revoked_at,
                        sessions.c.expires_at.label("session_expires_at"),
                        users.c.id.label("user_id"),
                        users.c.username,
                    )
                    .join(sessions, sessions.c.sid == refresh_tokens.c.sid)
                    .join(users, users.c.id == sessions.c.user_id)
                    .where(refresh_tokens.c.token_hash == token_hash)
                )
            ).first()
            outcome = await self._rotate(conn, row, token_hash, now)
        if isinstance(outcome, InvalidGrant):
            raise outcome
        assert row is not None
        return TokenPair(
            access_token=self._mint_access(
                user_id=row.user_id, username=row.username, sid=row.sid, now=now
            ),
            expires_in=self.settings.access_ttl_s,
            refresh_token=outcome,
            refresh_expires_in=row.session_expires_at - now,
            sid=row.sid,
            user_id=row.user_id,
        )

    async def _rotate(
        self, conn: AsyncConnection, row: Any, token_hash: str, now: float
    ) -> str | InvalidGrant:
        """Inside the write transaction: the new refresh token, or why there is none."""
        if row is None:
            return InvalidGrant("invalid_grant", "refresh token is not valid")
        if row.revoked_at is not None:
            return InvalidGrant("invalid_grant", "session has been revoked")
        if row.expires_at <= now or row.session_expires_at <= now:
            return InvalidGrant("invalid_grant", "refresh token has expired")
        spent = await conn.execute(
            refresh_tokens.update()
            .where(refresh_tokens.c.token_hash == token_hash, refresh_tokens.c.used_at.is_(None))
            .values(used_at=now)
        )
        if row.used_at is not None or spent.rowcount != 1:
            await self._revoke(conn, row.sid, "refresh_reuse", now)
            return InvalidGrant(
                "refresh_token_reused", "refresh token was already used; session revoked"
            )
        return await self._insert_refresh(conn, row.sid, row.session_expires_at, now)

    # ------------------------------------------------------------------ revocation
    async def _revoke(self, conn: AsyncConnection, sid: str, reason: str, now: float) -> None:
        changed = await conn.execute(
            sessions.update()
            .where(sessions.c.sid == sid, sessions.c.revoked_at.is_(None))
            .values(revoked_at=now, revoke_reason=reason)
        )
        if changed.rowcount:
            await conn.execute(
                revocations.insert().values(
                    sid=sid,
                    revoked_at=now,
                    expires_at=now + self.settings.access_ttl_s + self.settings.clock_leeway_s,
                    reason=reason,
                )
            )

    async def logout_refresh(self, refresh_token: str) -> None:
        """Revoke the session a refresh token belongs to (unknown tokens: no-op)."""
        now = self._clock()
        async with self.db.write() as conn:
            sid = (
                await conn.execute(
                    sa.select(refresh_tokens.c.sid).where(
                        refresh_tokens.c.token_hash == _hash_refresh(refresh_token)
                    )
                )
            ).scalar_one_or_none()
            if sid is not None:
                await self._revoke(conn, sid, "logout", now)

    async def logout_access(self, access_token: str) -> AccessClaims:
        """Revoke the session of a valid access token issued by this service.

        Raises:
            InvalidTokenError: the token does not verify against our own keys.
        """
        now = self._clock()
        jws = jose.parse_compact(access_token)
        keys = self.keyring.verification_keys(now=now, retire_after_s=self.retire_after_s)
        key = keys.get(jws.kid)
        if key is None:
            raise InvalidTokenError("unknown_key", "token key is not ours")
        jose.verify_signature(jws, key)
        claims = validate_access_claims(
            jose.loads_strict(jws.payload, "payload"), self.claim_policy, now=now
        )
        async with self.db.write() as conn:
            await self._revoke(conn, claims.sid, "logout", now)
        return claims

    async def revocations_after(self, cursor: int, *, limit: int) -> FeedPage:
        """Live revocations with a sequence number above ``cursor``, oldest first."""
        now = self._clock()
        async with self.db.read() as conn:
            rows = (
                await conn.execute(
                    sa.select(revocations.c.seq, revocations.c.sid, revocations.c.expires_at)
                    .where(revocations.c.seq > cursor)
                    .order_by(revocations.c.seq)
                    .limit(limit + 1)
                )
            ).all()
        more = len(rows) > limit
        rows = rows[:limit]
        return FeedPage(
            feed_id=self.feed_id,
            cursor=rows[-1].seq if rows else cursor,
            entries=tuple((r.sid, r.expires_at) for r in rows if r.expires_at > now),
            more=more,
        )

    async def prune(self) -> int:
        """Delete revocations whose tokens have all expired; returns how many.

        The newest row always stays: with it in place no database can hand out a
        sequence number again, whatever its schema predates (SQLite tables created
        without AUTOINCREMENT reuse numbers once emptied).
        """
        newest = sa.select(sa.func.max(revocations.c.seq)).scalar_subquery()
        async with self.db.write() as conn:
            result = await conn.execute(
                revocations.delete().where(
                    revocations.c.expires_at < self._clock(), revocations.c.seq < newest
                )
            )
        return int(result.rowcount or 0)


async def load_feed_id(db: Database) -> str:
    """The revocation feed's identity, created with the database (changes if it is reset)."""
    async with db.write() as conn:
        value = (
            await conn.execute(sa.select(feed_meta.c.value).where(feed_meta.c.key == _FEED_ID_KEY))
        ).scalar_one_or_none()
        if value is None:
            value = secrets.token_urlsafe(12)
            await conn.execute(feed_meta.insert().values(key=_FEED_ID_KEY, value=value))
    return str(value)
