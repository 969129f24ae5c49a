"""Who is asking: a bearer token (REST, CLI) or the dashboard's session cookie with a CSRF token.

Every request passes `authenticate` before its view. Public: the health check, the Prometheus scrape
(aggregates only), the login page and the dashboard's static files. The Host header is checked against CONVFORGE_ALLOWED_HOSTS first (DNS
rebinding), and a state-changing request from another site is refused whatever its content type.
"""
from __future__ import annotations

import hmac
import secrets
from pathlib import Path

from flask import Flask, g, redirect, request, session, url_for
from flask.sessions import SecureCookieSessionInterface

from services.api.extensions import db, settings
from services.api.problems import Problem
from services.api.route_table import PUBLIC_ENDPOINTS as PUBLIC_API_ENDPOINTS
from shared.accounts import authenticate as user_of_token
from services.api.schemas.common import as_utc
from shared.db.models import User, utcnow

# Besides the API routes declared public (the health check): the login page, the dashboard's files and
# /metrics, which Prometheus scrapes without credentials; it carries only aggregates (jobs by status,
# queue depth, latency by route), nothing of any user's objects.
PUBLIC_PAGES = {"login.login_page", "login.login", "dashboard.static", "metrics.scrape"}
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
SECRET_KEY_FILE = "secret_key"
TOKEN_USE_RESOLUTION = 60  # seconds
SECURITY_HEADERS = {
    # Scripts only from our own files: no inline script, no eval. Styles may be set inline by Chart.js.
    "Content-Security-Policy": ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                                "img-src 'self' data:; object-src 'none'; base-uri 'none'; "
                                "form-action 'self'; frame-ancestors 'none'"),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}


class SessionCookie(SecureCookieSessionInterface):
    """Flask's signed cookie session, marked Secure when the request came over https."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return request.is_secure


def init_auth(app: Flask) -> None:
    app.secret_key = settings_secret_key(app)
    app.session_interface = SessionCookie()
    app.config.update(SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax",
                      SESSION_COOKIE_NAME="convforge_session")
    app.before_request(authenticate)
    app.after_request(_security_headers)
    from services.api.quotas import init_quotas  # after authenticate: quotas are per user

    init_quotas(app)
    app.context_processor(lambda: {"csrf_token": csrf_token, "current_user": g.get("user")})


def settings_secret_key(app: Flask) -> str:
    configured = app.extensions["convforge"].settings
    if configured.secret_key:
        return configured.secret_key
    path = Path(configured.var_dir) / SECRET_KEY_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with open(path, "x", opener=lambda name, flags: __import__("os").open(name, flags, 0o600)) as handle:
                handle.write(secrets.token_urlsafe(48))
        except FileExistsError:  # another gunicorn worker wrote it first
            pass
    return path.read_text().strip()


def current_user() -> User:
    return g.user


def authenticate():
    _check_host()
    _refuse_cross_site()
    if request.endpoint in PUBLIC_PAGES or request.endpoint in PUBLIC_API_ENDPOINTS:
        g.user = _session_user()
        return None
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, secret = header.partition(" ")
        found = user_of_token(db(), secret.strip()) if scheme.lower() == "bearer" and secret.strip() else None
        if found is None:
            raise _unauthorized("The bearer token is not valid: unknown, revoked or expired.")
        g.user, token = found
        _note_use(token)
        return None
    user = _session_user()
    if user is None:
        if not request.path.startswith("/api/") and request.method in SAFE_METHODS:
            return redirect(url_for("login.login_page", next=request.full_path.rstrip("?")))
        raise _unauthorized("This request needs `Authorization: Bearer <token>` (`convforge tokens create` "
                            "makes one) or a dashboard session.")
    if request.method not in SAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER) or request.form.get(CSRF_FIELD, "")
        if not hmac.compare_digest(sent, session.get(CSRF_FIELD, "")):
            raise Problem(403, "CSRF token missing", f"A dashboard request that changes something must send "
                          f"the page's CSRF token in the {CSRF_HEADER} header.", kind="csrf")
    g.user = user
    return None


def _note_use(token) -> None:
    # At most one write a minute per token: enough to see which tokens are still in use.
    now = utcnow()
    if token.last_used_at is None or (now - as_utc(token.last_used_at)).total_seconds() > TOKEN_USE_RESOLUTION:
        token.last_used_at = now
        db().commit()


def csrf_token() -> str:
    if CSRF_FIELD not in session:
        session[CSRF_FIELD] = secrets.token_urlsafe(32)
    return session[CSRF_FIELD]


def start_session(user: User) -> None:
    session.clear()
    session["user_id"] = user.id
    csrf_token()


def _session_user() -> User | None:
    user_id = session.get("user_id")
    return db().get(User, user_id) if isinstance(user_id, int) else None


def _check_host() -> None:
    allowed = settings().allowed_hosts
    host = (request.host or "").lower()
    # Strip the port: "[::1]:8000" -> "::1", "example.org:8000" -> "example.org".
    name = host[1:host.index("]")] if host.startswith("[") and "]" in host else host.rsplit(":", 1)[0]
    if "*" not in allowed and name not in allowed:
        raise Problem(400, "Host not allowed", f"The Host header {request.host!r} is not one this server "
                      "answers; add it to CONVFORGE_ALLOWED_HOSTS.", kind="host-not-allowed")


def _refuse_cross_site() -> None:
    """A browser says where a request comes from (Sec-Fetch-Site, Origin); another site may not change
    anything here, whatever the content type or credentials."""
    if request.method in SAFE_METHODS:
        return
    site = request.headers.get("Sec-Fetch-Site")
    origin = request.headers.get("Origin")
    if site is not None:
        refused = site not in ("same-origin", "none")  # none: typed by the user, not sent by a page
    else:  # a browser without Fetch Metadata: its Origin header, when it sends one
        refused = origin is not None and origin != request.host_url.rstrip("/")
    if refused:
        raise Problem(403, "Cross-site request refused", "Requests that change something must come from "
                      "this server's own pages or from a client with a bearer token.", kind="cross-site")


def _unauthorized(detail: str) -> Problem:
    return Problem(401, "Authentication required", detail, kind="unauthorized",
                   headers={"WWW-Authenticate": 'Bearer realm="convforge"'})


def _security_headers(response):
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if request.endpoint not in (None, "dashboard.static"):
        # Answers depend on who asks: no shared cache may keep them.
        response.headers.add("Vary", "Authorization, Cookie")
    return response
