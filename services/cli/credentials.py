"""The local admin's token, kept in var/credentials.json (mode 0600) by `convforge up` on its first
start, so the CLI on the same machine needs no token to be typed. CONVFORGE_TOKEN overrides it."""
from __future__ import annotations

import json
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from sqlalchemy.orm import Session

from shared.accounts import authenticate, create_user, find_user, issue_token, register_admin_token
from shared.config import Settings
from shared.db.session import make_engine

CREDENTIALS_FILE = "credentials.json"
LOCAL_ADMIN = "admin"
LOCAL_TOKEN_NAME = "local-cli"


def credentials_path(settings: Settings) -> Path:
    return Path(settings.var_dir) / CREDENTIALS_FILE


def local_token(settings: Settings) -> str | None:
    """CONVFORGE_TOKEN, else the token `convforge up` saved under var/, else None."""
    if settings.cli_token:
        return settings.cli_token
    try:
        return json.loads(credentials_path(settings).read_text())["token"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def ensure_local_admin(settings: Settings) -> tuple[str, bool]:
    """The saved token, when it still works; else a new one for the admin named `admin` (made if missing),
    saved under var/. Returns (user name, whether anything was made)."""
    with database_session(settings) as session:
        saved = local_token(settings)
        found = authenticate(session, saved) if saved else None
        if found is not None:
            return found[0].name, False
        user = find_user(session, LOCAL_ADMIN) or create_user(session, LOCAL_ADMIN, "admin")
        _, secret = issue_token(session, user, LOCAL_TOKEN_NAME)
        session.commit()
        _write_private(credentials_path(settings), json.dumps({"user": user.name, "token": secret}))
        return user.name, True


def admin_from_environment(settings: Settings) -> str | None:
    """CONVFORGE_ADMIN_TOKEN set: its admin exists and the token works. Returns a line to print."""
    if not settings.admin_token:
        return None
    with database_session(settings) as session:
        added = register_admin_token(session, settings.admin_name, settings.admin_token)
        session.commit()
    return f"admin {settings.admin_name!r}: " + ("made, with CONVFORGE_ADMIN_TOKEN as a token" if added
                                               else "CONVFORGE_ADMIN_TOKEN is already one of their tokens")


def login_link(settings: Settings, api_url: str) -> str:
    """A dashboard URL that logs the local admin in once (a fresh one-time code, valid for minutes)."""
    with database_session(settings) as session:
        found = authenticate(session, local_token(settings) or "")
        if found is None:
            return f"{api_url}/login"
        _, code = issue_token(session, found[0], "dashboard link", kind="login")
        session.commit()
        return f"{api_url}/login?code={code}"


@contextmanager
def database_session(settings: Settings) -> Iterator[Session]:
    """A session on the configured database, for commands that act on it directly."""
    engine = make_engine(settings.database_url)
    try:
        with Session(engine, expire_on_commit=False) as session:
            yield session
    finally:
        engine.dispose()


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text + "\n")
    os.replace(temporary, path)
