"""The Flask application factory: settings, database, job queue, blueprints and error handlers."""
from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from flask import Flask, request
from werkzeug.routing import IntegerConverter

from services.api import dashboard, openapi
from services.api.extensions import init_resources
from services.api.ingest_slots import init_ingest_slots
from services.api.problems import register_error_handlers
from services.api.resources import datasets, health, jobs, models, networks
from services.api.schemas.common import MAX_ID
from services.api.strict_json import StrictJSONProvider
from services.api.uploads import StreamingUploadRequest
from shared.config import Settings, load_settings

BLUEPRINTS = (networks.bp, datasets.bp, jobs.bp, models.bp, health.bp, openapi.bp, dashboard.bp)


class IdConverter(IntegerConverter):
    """`<id:name>`: a row id; numbers outside 1..MAX_ID are simply not found."""

    def __init__(self, url_map, *args, **kwargs):
        super().__init__(url_map, min=1, max=MAX_ID)


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or load_settings()
    app = Flask(__name__)
    app.json = StrictJSONProvider(app)
    app.request_class = StreamingUploadRequest
    app.url_map.converters["id"] = IdConverter
    app.config.update(
        MAX_CONTENT_LENGTH=settings.max_upload_bytes,
        API_VERSION=_package_version(),
    )
    app.json.sort_keys = False
    init_resources(app, settings)
    init_ingest_slots(app, settings.max_concurrent_ingests)

    for blueprint in BLUEPRINTS:
        app.register_blueprint(blueprint)

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
