"""Errors gunicorn answers itself, before the app sees the request (a request line past
limit_request_line, too many headers, an unreadable request), as problem documents like every other
error of the API, instead of gunicorn's HTML page."""
from __future__ import annotations

import json

from gunicorn import util

from services.api.problems import PROBLEM_JSON, PROBLEM_TYPE_BASE
from shared.limits import MAX_REQUEST_LINE_BYTES

_DETAILS = {
    414: f"The URL is too long: the request line may have at most {MAX_REQUEST_LINE_BYTES} bytes.",
    431: "The request headers are too many or too large.",
}


def problem_http_response(status: int, reason: str, message: str) -> bytes:
    detail = _DETAILS.get(status) or f"The request could not be read: {message}".rstrip(": ")
    body = json.dumps({"type": PROBLEM_TYPE_BASE + reason.lower().replace(" ", "-"), "title": reason,
                       "status": status, "detail": detail}).encode()
    head = (f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\nContent-Type: {PROBLEM_JSON}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode("latin-1")
    return head + body


def _write_problem(sock, status_int: int, reason: str, mesg: str) -> None:
    util.write_nonblock(sock, problem_http_response(status_int, reason, mesg))


def send_errors_as_problems() -> None:
    """Replace gunicorn's HTML error writer (its workers call util.write_error) in this process and the
    workers it forks."""
    util.write_error = _write_problem
