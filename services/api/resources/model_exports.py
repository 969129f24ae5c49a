"""A trained model in another format: ONNX, built once per model file and kept beside it."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from flask import Blueprint, send_file

from services.api.extensions import db, settings
from services.api.inference.loaded import loaded_model
from services.api.resources.models import load_model_row
from services.api.route_table import api_route
from services.api.schemas.predictions import ExportQuery
from services.api.validation import parse_query
from shared.db.models import Network
from shared.export.onnx_export import ONNX_MEDIA_TYPE, export_onnx_bytes

bp = Blueprint("model_exports", __name__, url_prefix="/api/v1/models")
EXPORTS_DIR = "exports"


@api_route(bp, "/<id:model_id>/export", summary="The trained model as ONNX, its normalisation as the first nodes",
           query=ExportQuery, media_types=(ONNX_MEDIA_TYPE,), problems=(400, 404, 413))
def export_model(model_id: int):
    model = load_model_row(model_id)
    parse_query(ExportQuery)
    target = settings().artifact_dir / EXPORTS_DIR / f"model-{model.id}-{model.sha256}.onnx"
    if not target.is_file():
        loaded = loaded_model(model)
        with loaded.lock:
            content = export_onnx_bytes(loaded.net, loaded.mean, loaded.std, loaded.class_names)
        _write_atomically(target, content)
    network = db().get(Network, model.network_id)
    return send_file(target, mimetype=ONNX_MEDIA_TYPE, as_attachment=True,
                     download_name=f"model-{model.id}-{network.name}.onnx", etag=model.sha256)


def _write_atomically(target: Path, content: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp_path = tempfile.mkstemp(prefix=".export-", suffix=".onnx", dir=target.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(content)
        os.replace(tmp_path, target)
    except BaseException:
        if os.path.exists(tmp_path):
            os.unlink(tmp_path)
        raise
