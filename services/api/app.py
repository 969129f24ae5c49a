"""The Flask application factory: settings, database, job queue, blueprints and error handlers."""
from __future__ import annotations

import logging
from importlib.metadata import PackageNotFoundError, version

from flask import Flask, request
from werkzeug.routing import IntegerConverter

from services.api import dashboard, login, metrics, openapi
from services.api.auth import init_auth
from services.api.extensions import init_resources
from services.api.ingest_slots import init_ingest_slots
from services.api.metrics import init_metrics
from services.api.problems import register_error_handlers
from services.api.resources import (dataset_images, datasets, health, jobs, lessons, model_exports, model_imports,
                                   models, networks, predictions, tokens)
from services.api.schemas.common import MAX_ID
from services.api.strict_json import StrictJSONProvider
from services.api.uploads import StreamingUploadRequest
from shared.config import Settings, load_settings
from shared.logs import use_log_format

BLUEPRINTS = (networks.bp, datasets.bp, jobs.bp, model_imports.bp, models.bp, predictions.bp, model_exports.bp,
              dataset_images.bp, health.bp, tokens.bp, lessons.bp, openapi.bp, metrics.bp, login.bp, dashboard.bp)


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
    _use_log_format(settings.log_format)
    resources = init_resources(app, settings)
    init_ingest_slots(app, settings.max_concurrent_ingests)
    init_metrics(app, resources)
    init_auth(app)

    for blueprint in BLUEPRINTS:
        app.register_blueprint(blueprint)

    register_error_handlers(app)

    @app.teardown_request
    def _remove_uploads(_error):
        # Whatever happened, uploaded parts never outlive their request.
        if isinstance(request, StreamingUploadRequest):
            request.remove_uploads()

    return app


def _use_log_format(log_format: str) -> None:
    """The app's lines, and gunicorn's, in the format asked for."""
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(level=logging.INFO)
    handlers = [*root.handlers, *logging.getLogger("gunicorn.error").handlers,
                *logging.getLogger("gunicorn.access").handlers]
    use_log_format(log_format, handlers)


def _package_version() -> str:
    try:
        return version("convforge")
    except PackageNotFoundError:
        return "0.0.0"
