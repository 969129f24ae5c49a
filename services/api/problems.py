"""Errors as RFC 9457 problem documents (`application/problem+json`), for every route.

Handlers are registered for HTTP errors (400, 404, 405, 413, 415...), validation failures (422 with an
`errors` list of {"loc", "msg"}), an unreachable database, broker or artifact store (503)
and, as a last resort, any other exception (500 without internals). No route answers an HTML error page.
"""
from __future__ import annotations

import logging

from flask import Flask, Response, json, request
from sqlalchemy.exc import DBAPIError, OperationalError
from werkzeug.exceptions import HTTPException

from shared.storage import StoreError

PROBLEM_JSON = "application/problem+json"
# Problem types are names, not pages: a URN a client can switch on (RFC 9457 allows any URI).
PROBLEM_TYPE_BASE = "urn:convforge:problem:"

log = logging.getLogger(__name__)


class Problem(Exception):
    """Raise to answer with a problem document."""

    def __init__(self, status: int, title: str, detail: str, *, kind: str | None = None,
                 errors: list[dict] | None = None, headers: dict[str, str] | None = None,
                 members: dict | None = None):
        super().__init__(detail)
        self.status = status
        self.title = title
        self.detail = detail
        self.kind = kind or title.lower().replace(" ", "-")
        self.errors = errors
        self.headers = headers or {}
        self.members = members or {}  # extension members of the document, e.g. {"jobs": [3, 4]}


def not_found(what: str, ident: object) -> Problem:
    return Problem(404, "Not found", f"{what} {ident} does not exist.", kind="not-found")


def validation_problem(errors: list[dict], detail: str | None = None, status: int = 422) -> Problem:
    title = "Invalid request" if status == 422 else "Bad request"
    detail = detail or "; ".join(error["msg"] for error in errors[:5])
    return Problem(status, title, detail, kind="validation" if status == 422 else "bad-request",
                   errors=errors)


def problem_response(problem: Problem) -> Response:
    body = {
        "type": PROBLEM_TYPE_BASE + problem.kind,
        "title": problem.title,
        "status": problem.status,
        "detail": problem.detail,
    }
    if problem.errors is not None:
        body["errors"] = problem.errors
    body.update(problem.members)
    response = Response(json.dumps(body), status=problem.status, mimetype=PROBLEM_JSON)
    for name, value in problem.headers.items():
        response.headers[name] = value
    return response


# Sentences for the HTTP errors Flask and Werkzeug raise themselves.
_HTTP_DETAILS = {
    400: "The request could not be read; if it has a JSON body, check that it is valid JSON.",
    404: "There is nothing at this URL. The API lives under /api/v1; see /api/v1/openapi.json.",
    405: "This URL does not accept the {method} method.",
    413: "The request body is larger than the limit of {limit} bytes (MAX_UPLOAD_BYTES).",
    415: "The request body must be JSON, sent with Content-Type: application/json.",
}


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(Problem)
    def _problem(problem: Problem):
        return problem_response(problem)

    @app.errorhandler(HTTPException)
    def _http(error: HTTPException):
        template = _HTTP_DETAILS.get(error.code or 500)
        if template:
            detail = template.format(method=request.method, limit=app.config.get("MAX_CONTENT_LENGTH"))
        else:
            detail = error.description or error.name
        headers = {}
        if error.code == 405 and error.valid_methods:
            headers["Allow"] = ", ".join(error.valid_methods)
        return problem_response(Problem(error.code or 500, error.name, detail, headers=headers))

    @app.errorhandler(StoreError)
    def _store(error: StoreError):
        log.error("artifact store error: %s", error)
        return problem_response(Problem(
            503, "Artifact store unavailable",
            "The artifact store cannot be reached or refused the request; nothing was recorded. "
            "Try again in a moment.", kind="store-unavailable", headers={"Retry-After": "5"}))

    @app.errorhandler(OperationalError)
    @app.errorhandler(DBAPIError)
    def _database(error: DBAPIError):
        if _missing_schema(error):
            log.error("database schema missing: %s", error.orig)
            return problem_response(Problem(
                503, "Database not migrated",
                "The database has no convforge tables yet; run `convforge migrate` and try again.",
                kind="database-unavailable"))
        if isinstance(error, OperationalError) or error.connection_invalidated:
            log.warning("database unavailable: %s", error.orig)
            return problem_response(Problem(
                503, "Database unavailable",
                "The database cannot be reached or is busy; try again in a moment.",
                kind="database-unavailable", headers={"Retry-After": "5"}))
        return _unexpected(error)

    @app.errorhandler(Exception)
    def _unexpected(error: Exception):
        log.exception("unhandled error")
        return problem_response(Problem(500, "Internal error",
                                        "The server failed while handling this request; it has been logged."))


def _missing_schema(error: DBAPIError) -> bool:
    message = str(error.orig).lower()
    # SQLite: "no such table: jobs"; PostgreSQL: relation "jobs" does not exist.
    return "no such table" in message or ("relation" in message and "does not exist" in message)
