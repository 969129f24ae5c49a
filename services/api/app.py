"""The Flask application factory: settings, database, job queue, blueprints and error handlers."""
from __future__ import annotations

import importlib.util
from importlib import import_module
from importlib.metadata import PackageNotFoundError, version

from flask import Flask, request
from werkzeug.routing import IntegerConverter

from services.api.extensions import init_resources
from services.api.problems import register_error_handlers
from services.api.schemas.common import MAX_ID
from services.api.uploads import StreamingUploadRequest
from shared.config import Settings, load_settings

API_BLUEPRINTS = ("networks", "datasets", "jobs", "model_imports", "models", "predictions", "model_exports",
                  "dataset_images", "health")
DASHBOARD_MODULE = "services.api.dashboard"


class IdConverter(IntegerConverter):
    """`<id:name>`: a row id; numbers outside 1..MAX_ID are simply not found."""

    def __init__(self, url_map, *args, **kwargs):
        super().__init__(url_map, min=1, max=MAX_ID)


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or load_settings()
    app = Flask(__name__)
    app.request_class = StreamingUploadRequest
    app.url_map.converters["id"] = IdConverter
    app.config.update(
        MAX_CONTENT_LENGTH=settings.max_upload_bytes,
        API_VERSION=_package_version(),
    )
    app.json.sort_keys = False
    init_resources(app, settings)

    for name in API_BLUEPRINTS:
        app.register_blueprint(import_module(f"services.api.resources.{name}").bp)
    app.register_blueprint(import_module("services.api.openapi").bp)
    if importlib.util.find_spec(DASHBOARD_MODULE) is not None:
        app.register_blueprint(import_module(DASHBOARD_MODULE).bp)

    register_error_handlers(app)

    @app.teardown_request
    def _remove_uploads(_error):
        # Whatever happened, uploaded parts never outlive their request.
        if isinstance(request, StreamingUploadRequest):
            request.remove_uploads()

    return app


def _package_version() -> str:
    try:
        return version("convforge")
    except PackageNotFoundError:
        return "0.0.0"
