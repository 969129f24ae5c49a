"""`convforge users` and `convforge tokens`: run on the server's machine, straight on its database.

    convforge users add NAME [--admin]         a user, and a first token for them (shown once)
    convforge users list
    convforge tokens create [--user NAME] [--name N] [--expires-days D]
    convforge tokens list [--user NAME]
    convforge tokens revoke ID

Without --user, `tokens` act for the user of the local token (the admin `convforge up` made).
"""
from __future__ import annotations

import argparse
import json
import sys
from datetime import timedelta

from sqlalchemy import select

from services.cli.credentials import database_session, local_token
from shared.accounts import AccountError, authenticate, create_user, find_user, issue_token, list_tokens, revoke_token
from shared.config import load_settings
from shared.db.models import User


def add_arguments(command: str, parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True)
    if command == "users":
        add = actions.add_parser("add", help="add a user and print a first token")
        add.add_argument("name")
        add.add_argument("--admin", action="store_true", help="the user sees and manages everything")
        actions.add_parser("list", help="list users")
        return
    create = actions.add_parser("create", help="make a token and print it (once)")
    create.add_argument("--user", help="whose token (default: the local admin)")
    create.add_argument("--name", default="cli", help="what the token is for")
    create.add_argument("--expires-days", type=int, help="days until it stops working (default: never)")
    listing = actions.add_parser("list", help="list tokens (never their secrets)")
    listing.add_argument("--user")
    revoke = actions.add_parser("revoke", help="revoke a token by id")
    revoke.add_argument("id", type=int)


def run(command: str, args: argparse.Namespace) -> int:
    settings = load_settings()
    try:
        with database_session(settings) as session:
            if command == "users":
                return _users(session, args)
            return _tokens(session, args, settings)
    except AccountError as exc:
        print(f"convforge {command} {args.action}: {exc}", file=sys.stderr)
        return 1


def _users(session, args) -> int:
    if args.action == "list":
        for user in session.scalars(select(User).order_by(User.id)):
            print(f"{user.id:>4}  {user.name:<24} {user.role}")
        return 0
    user = create_user(session, args.name, "admin" if args.admin else "user")
    _, secret = issue_token(session, user, "first")
    session.commit()
    print(f"user {user.name} ({user.role}) added. Their token, shown only now:", file=sys.stderr)
    print(secret)
    return 0


def _tokens(session, args, settings) -> int:
    if args.action == "revoke":
        token = revoke_token(session, args.id)
        session.commit()
        print(f"token {token.id} ({token.name}) revoked")
        return 0
    user = _user(session, args.user, settings)
    if args.action == "list":
        for token in list_tokens(session, user):
            state = "revoked" if token.revoked_at else (f"expires {token.expires_at:%Y-%m-%d %H:%M}"
                                                        if token.expires_at else "no expiry")
            print(json.dumps({"id": token.id, "user_id": token.user_id, "name": token.name,
                              "prefix": token.prefix, "state": state}))
        return 0
    if args.expires_days is not None and args.expires_days < 1:
        raise AccountError("--expires-days must be at least 1")
    expires = timedelta(days=args.expires_days) if args.expires_days else None
    _, secret = issue_token(session, user, args.name, expires)
    session.commit()
    print(f"token for {user.name}, shown only now:", file=sys.stderr)
    print(secret)
    return 0


def _user(session, name: str | None, settings) -> User | None:
    if name:
        user = find_user(session, name)
        if user is None:
            raise AccountError(f"no user named {name!r}; `convforge users add {name}` makes one")
        return user
    found = authenticate(session, local_token(settings) or "")
    if found is None:
        raise AccountError("say --user NAME: there is no local token (start `convforge up` once, or set "
                           "CONVFORGE_TOKEN)")
    return found[0]
