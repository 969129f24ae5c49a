"""A trained model in another format: ONNX, built once per model file and kept in the artifact store
under exports/, keyed by the model's id and checksum, so a replaced model file is exported afresh."""
from __future__ import annotations

from flask import Blueprint

from services.api.artifacts import send_artifact
from services.api.extensions import db, settings, store
from services.api.inference.loaded import loaded_model
from services.api.problems import not_found
from services.api.resources.models import load_model_row
from services.api.route_table import api_route
from services.api.schemas.predictions import ExportQuery
from services.api.validation import parse_query
from shared.db.models import Model, Network
from shared.export.onnx_export import ONNX_MEDIA_TYPE, export_onnx_bytes
from shared.storage.files import scratch_dir, scratch_file

bp = Blueprint("model_exports", __name__, url_prefix="/api/v1/models")
EXPORTS_PREFIX = "exports"


def export_key(model: Model) -> str:
    return f"{EXPORTS_PREFIX}/model-{model.id}-{model.sha256}.onnx"


@api_route(bp, "/<id:model_id>/export", summary="The trained model as ONNX, its normalisation as the first nodes",
           query=ExportQuery, media_types=(ONNX_MEDIA_TYPE,), problems=(400, 404, 413))
def export_model(model_id: int):
    model = load_model_row(model_id)
    parse_query(ExportQuery)
    key = export_key(model)
    if not store().exists(key):
        loaded = loaded_model(model)
        with loaded.lock:
            content = export_onnx_bytes(loaded.net, loaded.mean, loaded.std, loaded.class_names)
        with scratch_file(scratch_dir(settings()), "model.onnx") as path:
            path.write_bytes(content)
            store().put_file(key, path)  # whole or not at all: a reader never sees a partial export
    network = db().get(Network, model.network_id)
    return send_artifact(key, ONNX_MEDIA_TYPE, not_found("The ONNX export of model", model.id),
                         download_name=f"model-{model.id}-{network.name}.onnx", etag=model.sha256)
