"""The dashboard's login: a token (pasted, or the one-time link `convforge up` prints) opens a session."""
from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, url_for

from services.api.auth import csrf_token, start_session
from services.api.extensions import db
from shared.accounts import authenticate, spend_login

bp = Blueprint("login", __name__)


def _next_page() -> str:
    # Only a path on this server: never an absolute URL another site could send the user to.
    target = request.values.get("next", "")
    return target if target.startswith("/") and not target.startswith("//") else url_for("dashboard.jobs_page")


@bp.get("/login")
def login_page():
    code = request.args.get("code")
    if code:
        user = spend_login(db(), code)
        if user is not None:
            start_session(user)
            return redirect(_next_page())
        return render_template("dashboard/login.html", page="login", next=_next_page(),
                               error="This login link has been used or has expired; paste a token instead."), 401
    return render_template("dashboard/login.html", page="login", next=_next_page(), error=None)


@bp.post("/login")
def login():
    found = authenticate(db(), request.form.get("token", "").strip())
    if found is None:
        return render_template("dashboard/login.html", page="login", next=_next_page(),
                               error="That token is not valid: unknown, revoked or expired."), 401
    start_session(found[0])
    return redirect(_next_page(), code=303)


@bp.post("/logout")
def logout():
    # The CSRF token was checked before this view ran; a fresh anonymous session gets a new one.
    from flask import session

    session.clear()
    csrf_token()
    return redirect(url_for("login.login_page"), code=303)
