"""A user's own API tokens: make one (the secret is shown once), list them, revoke one."""
from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, jsonify, url_for

from services.api.auth import current_user
from services.api.extensions import db
from services.api.problems import not_found
from services.api.route_table import api_route
from services.api.schemas.tokens import NewTokenView, TokenList, TokenRequest, TokenView
from services.api.validation import parse_body
from shared.accounts import AccountError, issue_token, list_tokens, revoke_token
from shared.db.models import ApiToken, User

bp = Blueprint("tokens", __name__, url_prefix="/api/v1/tokens")


def token_view(token: ApiToken) -> dict:
    return TokenView(id=token.id, name=token.name, prefix=token.prefix, user=db().get(User, token.user_id).name,
                     created_at=token.created_at, expires_at=token.expires_at, revoked_at=token.revoked_at,
                     last_used_at=token.last_used_at,
                     url=url_for("tokens.revoke", token_id=token.id)).model_dump(mode="json")


@api_route(bp, "", "POST", summary="Make an API token for yourself; the answer is the only time it is shown",
           body=TokenRequest, response=NewTokenView, status=201, problems=(400, 415, 422))
def create_token():
    request = parse_body(TokenRequest)
    session = db()
    expires_in = timedelta(days=request.expires_in_days) if request.expires_in_days else None
    token, secret = issue_token(session, current_user(), request.name, expires_in)
    session.commit()
    response = jsonify({**token_view(token), "token": secret})
    response.status_code = 201
    return response


@api_route(bp, "", summary="Your API tokens (never their secrets)", response=TokenList)
def list_own_tokens():
    return jsonify({"items": [token_view(token) for token in list_tokens(db(), current_user())]})


@api_route(bp, "/<id:token_id>/revoke", "POST", summary="Revoke one of your tokens (an admin: anyone's); it "
           "stops working at once",
           response=TokenView, problems=(404,))
def revoke(token_id: int):
    session = db()
    try:
        user = current_user()
        token = revoke_token(session, token_id, None if user.is_admin else user)
    except AccountError:
        raise not_found("Token", token_id) from None
    session.commit()
    return jsonify(token_view(token))
