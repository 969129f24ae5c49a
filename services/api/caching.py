"""Cheap polling: JSON answers with an ETag, and 304 Not Modified when If-None-Match matches."""
from __future__ import annotations

from flask import Response, jsonify, request


def conditional_json(payload: object) -> Response:
    response = jsonify(payload)
    response.add_etag()
    # Clients must revalidate each time; the ETag makes an unchanged answer a bodiless 304.
    response.headers["Cache-Control"] = "no-cache"
    return response.make_conditional(request)
