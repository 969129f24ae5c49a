"""Signed-in test clients: a user and a bearer token made straight in the app's database.

    client = signed_in_client(app)            # an admin named "tester"; every request carries its token
    account = add_account(app, "bob")         # Account(id, name, token)
    bob = bearer_client(app, account.token)
"""
from __future__ import annotations

from dataclasses import dataclass

from shared.accounts import create_user, find_user, issue_token

DEFAULT_USER = "tester"


@dataclass
class Account:
    id: int
    name: str
    token: str


def add_account(app, name: str = DEFAULT_USER, admin: bool = False) -> Account:
    """A new token for user `name`, made (with the role asked for) if it does not exist yet."""
    with app.extensions["convforge"].sessions() as session:
        user = find_user(session, name) or create_user(session, name, "admin" if admin else "user")
        _, secret = issue_token(session, user, "tests")
        session.commit()
        return Account(user.id, name, secret)


def bearer_client(app, token: str):
    """A Flask test client whose every request carries `Authorization: Bearer <token>`."""
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return client


def signed_in_client(app, name: str = DEFAULT_USER, admin: bool = True):
    return bearer_client(app, add_account(app, name, admin).token)
