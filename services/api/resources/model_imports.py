"""A model trained elsewhere, brought in as ONNX: its network is stored like any other (summary and
all) and its weights become a convforge model of the dataset it is for, ready to be explained,
evaluated and run. The file is stored first and the rows recorded after, so a recorded model is always
complete; both belong to the user importing it, who may only name their own dataset."""
from __future__ import annotations

import re

from flask import Blueprint, jsonify, request

from services.api.extensions import db, settings, store
from services.api.ownership import owner_id, referenced
from services.api.problems import Problem, validation_problem
from services.api.resources.models import model_view
from services.api.resources.networks import checked_definition
from services.api.route_table import api_route
from services.api.schemas.models import ModelView
from services.api.schemas.predictions import OnnxUpload
from shared.checksums import file_sha256
from shared.cnn import save_model
from shared.db.models import Dataset, Model, Network
from shared.export.onnx_import import OnnxImportError, import_onnx
from shared.storage.files import scratch_dir, scratch_file
from shared.storage.keys import new_model_key

bp = Blueprint("model_imports", __name__, url_prefix="/api/v1/models")


def _refused(detail: str, loc: list) -> Problem:
    return validation_problem([{"loc": loc, "msg": detail}], detail)


@api_route(bp, "/import", "POST", summary="Import an ONNX model made of convforge's operators",
           body=OnnxUpload, body_media_type="multipart/form-data", response=ModelView, status=201,
           problems=(400, 413, 415, 422), headers=("Location",))
def import_model():
    if request.mimetype != "multipart/form-data":
        raise Problem(415, "Unsupported media type", "Send the .onnx file as multipart/form-data `file` with a "
                      "`dataset_id` field.")
    part = request.files.get("file")
    if part is None:
        raise _refused("no `file` part: send the .onnx file as `file`", ["file"])
    raw_id = request.form.get("dataset_id", "")
    if not re.fullmatch(r"[0-9]{1,10}", raw_id):
        raise _refused(f"dataset_id must be the id of the dataset the model is for, not {raw_id!r}", ["dataset_id"])
    dataset = referenced(Dataset, int(raw_id), "dataset_id", "dataset")
    try:
        imported = import_onnx(part.stream.read())
    except OnnxImportError as exc:
        raise _refused(str(exc), ["file"]) from None
    if request.form.get("name"):
        imported.definition["name"] = request.form["name"][:128]
    definition, summary = checked_definition(imported.definition)
    if list(definition["input_shape"]) != list(dataset.input_shape):
        raise _refused(f"the model takes {definition['input_shape']} but dataset {dataset.id} holds "
                       f"{list(dataset.input_shape)}", ["dataset_id"])
    outputs = summary["layers"][-1]["output_shape"]
    if outputs != [dataset.num_classes]:
        raise _refused(f"the model answers {outputs} values but dataset {dataset.id} has {dataset.num_classes} "
                       f"classes", ["dataset_id"])
    net = imported.network()
    metadata = {**imported.metadata, "dataset_id": dataset.id, "source": "onnx"}
    metadata.setdefault("class_names", list(dataset.class_names))
    key = new_model_key()
    with scratch_file(scratch_dir(settings()), "model.npz") as path:
        save_model(path, net, metadata)
        sha256, size_bytes = file_sha256(path), path.stat().st_size
        store().put_file(key, path)
    try:
        session = db()
        network = Network(owner_id=owner_id(), name=definition["name"], definition=definition, summary=summary,
                          total_params=summary["total_params"])
        session.add(network)
        session.flush()
        model = Model(owner_id=owner_id(), network_id=network.id, dataset_id=dataset.id, path=key, sha256=sha256,
                      size_bytes=size_bytes, metrics={})
        session.add(model)
        session.commit()
    except BaseException:
        store().discard([key])  # unrecorded, the object would be unreachable litter
        raise
    response = jsonify(model_view(model).model_dump(mode="json"))
    response.status_code = 201
    response.headers["Location"] = response.json["url"]
    return response

