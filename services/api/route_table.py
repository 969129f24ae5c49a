"""The route table: each API route is registered through `api_route`, which also records what the
OpenAPI document says about it (request body, query, answer, possible problems)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from flask import Blueprint
from pydantic import BaseModel


@dataclass(frozen=True)
class RouteDoc:
    method: str
    rule: str  # Flask syntax, e.g. /api/v1/jobs/<id:job_id>
    summary: str
    tag: str
    body: type[BaseModel] | tuple[type[BaseModel], ...] | None = None  # a tuple: one of them
    body_media_type: str = "application/json"
    query: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    status: int = 200
    media_types: tuple[str, ...] = ("application/json",)  # of the successful answer
    problems: tuple[int, ...] = ()
    same_body_statuses: tuple[int, ...] = ()  # other statuses answered with the success body
    etag: bool = False
    description: str = ""
    headers: tuple[str, ...] = field(default=())  # response headers on success, e.g. Location
    public: bool = False  # answered without credentials


ROUTES: list[RouteDoc] = []
# Endpoint names ("health.health") of the routes declared public=True: services/api/auth.py lets them by.
PUBLIC_ENDPOINTS: set[str] = set()


def api_route(blueprint: Blueprint, rule: str, method: str = "GET", **doc) -> Callable:
    """Register a view on `blueprint` and document it; `rule` is relative to the blueprint's prefix."""

    def register(view: Callable) -> Callable:
        blueprint.add_url_rule(rule, view_func=view, methods=[method])
        if doc.get("public"):
            PUBLIC_ENDPOINTS.add(f"{blueprint.name}.{view.__name__}")
        full_rule = (blueprint.url_prefix or "") + rule
        ROUTES.append(RouteDoc(method=method, rule=full_rule.rstrip("/") or "/", tag=blueprint.name, **doc))
        return view

    return register
