"""Trained models: the row written by the worker and the .npz file in the artifact store, streamed."""
from __future__ import annotations

from flask import Blueprint, jsonify, url_for
from sqlalchemy import select, update

from services.api.artifacts import send_artifact
from services.api.deletion import DESCRIPTION as DELETE_DESCRIPTION
from services.api.deletion import delete_row, jobs_where, refuse_while_referenced
from services.api.extensions import db
from services.api.ownership import load_visible, visible
from services.api.pagination import fetch_page
from services.api.problems import not_found
from services.api.route_table import api_route
from services.api.schemas.common import Page, PageQuery, Ref
from services.api.schemas.models import ModelView
from services.api.validation import parse_query
from shared.db.models import Dataset, Job, Model, Network

bp = Blueprint("models", __name__, url_prefix="/api/v1/models")


def model_view(model: Model) -> ModelView:
    session = db()
    network = session.get(Network, model.network_id)
    dataset = session.get(Dataset, model.dataset_id)
    return ModelView(
        id=model.id,
        network=Ref(id=network.id, name=network.name, url=url_for("networks.get_network", network_id=network.id)),
        dataset=Ref(id=dataset.id, name=dataset.name, url=url_for("datasets.get_dataset", dataset_id=dataset.id)),
        job_id=model.job_id, sha256=model.sha256, size_bytes=model.size_bytes, metrics=model.metrics or {},
        created_at=model.created_at, url=url_for("models.get_model", model_id=model.id),
        download_url=url_for("models.download_model", model_id=model.id))


def load_model_row(model_id: int) -> Model:
    return load_visible(Model, model_id, "Model")


@api_route(bp, "", summary="List trained models, newest first", query=PageQuery, response=Page[ModelView],
           problems=(400,))
def list_models():
    query = parse_query(PageQuery)
    rows, next_cursor = fetch_page(db(), visible(select(Model), Model), Model.id, query)
    page = Page[ModelView](items=[model_view(row) for row in rows], next_cursor=next_cursor)
    return jsonify(page.model_dump(mode="json"))


@api_route(bp, "/<id:model_id>", summary="One trained model", response=ModelView, problems=(404,))
def get_model(model_id: int):
    return jsonify(model_view(load_model_row(model_id)).model_dump(mode="json"))


@api_route(bp, "/<id:model_id>/download", summary="The trained model as .npz (definition embedded)",
           media_types=("application/octet-stream",), problems=(404,))
def download_model(model_id: int):
    model = load_model_row(model_id)
    network = db().get(Network, model.network_id)
    return send_artifact(model.path, "application/octet-stream", not_found("The file of model", model_id),
                         download_name=f"model-{model.id}-{printable_part(network.name)}.npz", etag=model.sha256)


def printable_part(name: str) -> str:
    """The name without control characters, which a header cannot carry (names stored before they
    were refused may hold them)."""
    return "".join(char for char in name if char.isprintable())


@api_route(bp, "/<id:model_id>", "DELETE", summary="Delete a model no evaluation job refers to, and its file",
           status=204, media_types=(), problems=(404, 409),
           description=DELETE_DESCRIPTION + " The training job that produced it stays, with `model_id` null.")
def delete_model(model_id: int):
    model = load_model_row(model_id)
    refuse_while_referenced("Model", model_id, jobs_where(Job.model_id == model_id, Job.kind == "evaluate"), [])
    db().execute(update(Job).where(Job.model_id == model_id).values(model_id=None)
                 .execution_options(synchronize_session=False))
    return delete_row(model, "Model", [model.path])
