"""The OpenAPI 3.1 document, built from the route table and the pydantic models' JSON schemas."""
from __future__ import annotations

import re

from flask import Blueprint, current_app, jsonify
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from services.api.problems import PROBLEM_JSON
from services.api.route_table import ROUTES, RouteDoc, api_route
from services.api.schemas.common import MAX_ID, ProblemDocument

bp = Blueprint("openapi", __name__, url_prefix="/api/v1/openapi.json")

REF = "#/components/schemas/{model}"
_PATH_PARAM = re.compile(r"<(?:(\w+):)?(\w+)>")
_PROBLEM_TITLES = {400: "Bad request or query", 401: "No valid bearer token or session",
                   403: "Cross-site request, or a session request without its CSRF token", 404: "Not found", 405: "Method not allowed",
                   409: "Conflict with the resource's state",
                   413: "Upload too large", 415: "Unsupported media type", 422: "Invalid content",
                   503: "A dependency (database or broker) is unavailable"}
_ALWAYS = (405, 503)


def build_document(version: str) -> dict:
    routes = [route for route in ROUTES if route.rule.startswith("/api/v1")]
    keys, schemas = _schemas(routes)
    paths: dict[str, dict] = {}
    for route in routes:
        paths.setdefault(_openapi_path(route.rule), {})[route.method.lower()] = _operation(route, keys)
    return {
        "openapi": "3.1.0",
        "info": {"title": "convforge", "version": version,
                 "description": "Train and evaluate convolutional neural networks written in NumPy."},
        "paths": paths,
        "components": {"schemas": schemas, "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer",
                       "description": "An API token: `convforge tokens create`, or POST /api/v1/tokens."}}},
        "security": [{"bearer": []}],
    }


def _models(route: RouteDoc) -> list[tuple[type[BaseModel], str]]:
    bodies = route.body if isinstance(route.body, tuple) else (route.body,) if route.body else ()
    found = [(model, "validation") for model in bodies]
    if route.response is not None:
        found.append((route.response, "serialization"))
    return found


def _schemas(routes: list[RouteDoc]) -> tuple[dict, dict]:
    pairs = {(ProblemDocument, "serialization")}
    for route in routes:
        pairs.update(_models(route))
    keys, top = models_json_schema(sorted(pairs, key=lambda pair: (pair[0].__name__, pair[1])),
                                   ref_template=REF)
    return keys, top.get("$defs", {})


def _operation(route: RouteDoc, keys: dict) -> dict:
    operation: dict = {"tags": [route.tag], "summary": route.summary,
                       "operationId": f"{route.method.lower()}_{_slug(route.rule)}"}
    if route.description:
        operation["description"] = route.description
    parameters = _path_parameters(route.rule) + _query_parameters(route.query)
    if route.etag:
        parameters.append({"name": "If-None-Match", "in": "header", "required": False,
                           "schema": {"type": "string"}, "description": "An ETag from a previous answer."})
    if parameters:
        operation["parameters"] = parameters
    if route.body is not None:
        bodies = route.body if isinstance(route.body, tuple) else (route.body,)
        refs = [keys[(model, "validation")] for model in bodies]
        schema = refs[0] if len(refs) == 1 else {"oneOf": refs}
        operation["requestBody"] = {"required": True, "content": {route.body_media_type: {"schema": schema}}}
    operation["responses"] = _responses(route, keys)
    if route.public:
        operation["security"] = []
    return operation


def _responses(route: RouteDoc, keys: dict) -> dict:
    success: dict = {"description": route.summary}
    content = {}
    for media_type in route.media_types:
        if media_type == "application/json" and route.response is not None:
            content[media_type] = {"schema": keys[(route.response, "serialization")]}
        elif media_type.startswith("text/"):
            content[media_type] = {"schema": {"type": "string"}}
        else:
            content[media_type] = {"schema": {"type": "string", "contentMediaType": media_type}}
    if content:
        success["content"] = content
    if route.headers or route.etag:
        success["headers"] = {name: {"schema": {"type": "string"}} for name in (*route.headers,
                              *(("ETag",) if route.etag else ()))}
    responses: dict = {str(route.status): success}
    for status in route.same_body_statuses:
        responses[str(status)] = {**success, "description": f"{route.summary} ({status})"}
    if route.etag:
        responses["304"] = {"description": "Not modified since the ETag given in If-None-Match."}
    problem = {PROBLEM_JSON: {"schema": keys[(ProblemDocument, "serialization")]}}
    checks = () if route.public else (401,) if route.method == "GET" else (401, 403)
    for status in sorted(set(route.problems) | set(_ALWAYS) | set(checks)):
        responses.setdefault(str(status), {"description": _PROBLEM_TITLES.get(status, "Error"),
                                           "content": problem})
    return responses


def _path_parameters(rule: str) -> list[dict]:
    id_schema = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
    return [{"name": name, "in": "path", "required": True,
             "schema": id_schema if converter == "id" else {"type": "string"}}
            for converter, name in _PATH_PARAM.findall(rule)]


def _query_parameters(model: type[BaseModel] | None) -> list[dict]:
    if model is None:
        return []
    schema = model.model_json_schema(ref_template=REF)
    required = set(schema.get("required", []))
    parameters = []
    for name, prop in schema.get("properties", {}).items():
        description = prop.pop("description", None)
        prop.pop("title", None)
        # An empty value (`?status=`, as HTML forms send it) means the parameter was not given.
        schema = {"anyOf": [prop, {"type": "string", "maxLength": 0}]}
        parameter = {"name": name, "in": "query", "required": name in required, "schema": schema}
        if description:
            parameter["description"] = description
        parameters.append(parameter)
    return parameters


def _openapi_path(rule: str) -> str:
    return _PATH_PARAM.sub(lambda match: "{" + match[2] + "}", rule)


def _slug(rule: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", _PATH_PARAM.sub(r"by_\2", rule.removeprefix("/api/v1/"))).strip("_")


@api_route(bp, "", summary="This OpenAPI 3.1 document")
def openapi_document():
    if "openapi_document" not in current_app.extensions:
        current_app.extensions["openapi_document"] = build_document(current_app.config["API_VERSION"])
    return jsonify(current_app.extensions["openapi_document"])
