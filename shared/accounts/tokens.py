"""Tokens are 256 random bits shown once; the database keeps their SHA-256 only.

A fast hash is enough here (unlike passwords): a token has too much entropy to be guessed from its hash.
"""
from __future__ import annotations

import hashlib
import re
import secrets
from datetime import datetime, timedelta, timezone

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from shared.db.models import ROLES, ApiToken, User, utcnow

TOKEN_PREFIX = "cf_"
USER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,99}$")
# How long a one-time dashboard login link stays valid.
LOGIN_LINK_SECONDS = 12 * 3600


class AccountError(ValueError):
    pass


def new_secret() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_user(session: Session, name: str, role: str = "user") -> User:
    if not USER_NAME.match(name):
        raise AccountError(f"user name {name!r}: letters, digits and _ . @ - only, at most 100 characters")
    if role not in ROLES:
        raise AccountError(f"role {role!r}: must be one of {', '.join(ROLES)}")
    if find_user(session, name) is not None:
        raise AccountError(f"a user named {name!r} already exists")
    user = User(name=name, role=role)
    session.add(user)
    session.flush()
    return user


def find_user(session: Session, name: str) -> User | None:
    return session.scalars(select(User).where(User.name == name)).first()


def issue_token(session: Session, user: User, name: str = "default", expires_in: timedelta | None = None,
                kind: str = "api") -> tuple[ApiToken, str]:
    """A new token row and the secret, which is not stored and cannot be shown again."""
    if kind == "login":
        expires_in = timedelta(seconds=LOGIN_LINK_SECONDS)
    secret = new_secret()
    token = ApiToken(user_id=user.id, name=name[:100], kind=kind, token_hash=secret_hash(secret),
                     prefix=secret[:len(TOKEN_PREFIX) + 6],
                     expires_at=utcnow() + expires_in if expires_in else None)
    session.add(token)
    session.flush()
    return token, secret


MIN_GIVEN_TOKEN_LENGTH = 32


def register_admin_token(session: Session, name: str, secret: str) -> bool:
    """Make sure admin `name` exists and `secret` is one of their tokens (a deployment hands the secret
    in, e.g. CONVFORGE_ADMIN_TOKEN). True when anything was added."""
    if len(secret) < MIN_GIVEN_TOKEN_LENGTH:
        raise AccountError(f"the admin token must be at least {MIN_GIVEN_TOKEN_LENGTH} characters "
                           "(e.g. `openssl rand -hex 32`)")
    user = find_user(session, name) or create_user(session, name, "admin")
    if user.role != "admin":
        raise AccountError(f"user {name!r} exists and is not an admin")
    if session.scalars(select(ApiToken).where(ApiToken.token_hash == secret_hash(secret))).first():
        return False
    session.add(ApiToken(user_id=user.id, name="deployment", kind="api", token_hash=secret_hash(secret),
                         prefix=secret[:len(TOKEN_PREFIX) + 6]))
    session.flush()
    return True


def _usable(token: ApiToken | None, now: datetime) -> bool:
    return (token is not None and token.revoked_at is None
            and (token.expires_at is None or _aware(token.expires_at) > now))


def authenticate(session: Session, secret: str) -> tuple[User, ApiToken] | None:
    """The user of a valid (known, unrevoked, unexpired) API token, or None."""
    token = session.scalars(select(ApiToken).where(ApiToken.token_hash == secret_hash(secret),
                                                   ApiToken.kind == "api")).first()
    if not _usable(token, utcnow()):
        return None
    return session.get(User, token.user_id), token


def spend_login(session: Session, secret: str) -> User | None:
    """The user of a one-time login secret, which is revoked by the same conditional UPDATE that
    checks it, so two requests cannot both use it."""
    now = utcnow()
    token = session.scalars(select(ApiToken).where(ApiToken.token_hash == secret_hash(secret),
                                                   ApiToken.kind == "login")).first()
    if not _usable(token, now):
        return None
    spent = session.execute(update(ApiToken).where(ApiToken.id == token.id, ApiToken.revoked_at.is_(None))
                            .values(revoked_at=now).execution_options(synchronize_session=False)).rowcount
    session.commit()
    return session.get(User, token.user_id) if spent else None


def list_tokens(session: Session, user: User | None = None) -> list[ApiToken]:
    statement = select(ApiToken).where(ApiToken.kind == "api").order_by(ApiToken.id)
    if user is not None:
        statement = statement.where(ApiToken.user_id == user.id)
    return list(session.scalars(statement))


def revoke_token(session: Session, token_id: int, user: User | None = None) -> ApiToken:
    """Revoke one token (of `user`, when given); revoking twice is harmless."""
    token = session.get(ApiToken, token_id)
    if token is None or token.kind != "api" or (user is not None and token.user_id != user.id):
        raise AccountError(f"token {token_id} does not exist")
    if token.revoked_at is None:
        token.revoked_at = utcnow()
    session.flush()
    return token


def _aware(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes; they were stored in UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
