"""Reading request bodies and query strings through pydantic models, with problem documents on failure."""
from __future__ import annotations

from typing import TypeVar

from flask import request
from pydantic import BaseModel, ValidationError
from werkzeug.exceptions import BadRequest

from services.api.problems import Problem, validation_problem

M = TypeVar("M", bound=BaseModel)


def json_body() -> object:
    """The parsed JSON body: 415 if it is not JSON, 400 if it does not parse."""
    if not request.is_json:
        raise Problem(415, "Unsupported media type",
                      "The request body must be JSON, sent with Content-Type: application/json.")
    try:
        return request.get_json()
    except BadRequest as exc:
        # Flask hides the parser's sentence behind a generic BadRequest; the cause carries it.
        reason = exc.__cause__.description if isinstance(exc.__cause__, BadRequest) else exc.description
        raise Problem(400, "Malformed JSON", f"The request body is not valid JSON: {reason}",
                      kind="malformed-json") from None


def parse_body(model: type[M], data: object | None = None, prefix: tuple = ()) -> M:
    """Validate a JSON body (or part of one, at `prefix`) against `model`; 422 with each error's loc."""
    data = json_body() if data is None else data
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise validation_problem(readable_errors(exc, prefix)) from None


def parse_query(model: type[M]) -> M:
    """Validate the query string against `model`; 400 with loc ["query", name] on a bad value.
    An empty value (`?status=`) means the parameter was not given, as HTML forms send it."""
    given = {name: value for name, value in request.args.items() if value != "" or name not in model.model_fields}
    try:
        return model.model_validate(given)
    except ValidationError as exc:
        raise validation_problem(readable_errors(exc, ("query",)), status=400) from None


def readable_errors(exc: ValidationError, prefix: tuple = ()) -> list[dict]:
    errors = []
    for error in exc.errors(include_url=False):
        loc = [*prefix, *error["loc"]]
        where = ".".join(str(part) for part in loc) or "body"
        message = error["msg"]
        if error["type"] == "extra_forbidden":
            message = "unknown field"
        errors.append({"loc": loc, "msg": f"{where}: {message}"})
    return errors
