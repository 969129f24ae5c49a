"""Networks: definitions checked by the engine's own shape rules, stored with their summary."""
from __future__ import annotations

import json

from flask import Blueprint, Response, jsonify, url_for
from sqlalchemy import select

from services.api.deletion import DESCRIPTION as DELETE_DESCRIPTION
from services.api.deletion import delete_row, jobs_where, models_where, refuse_while_referenced
from services.api.extensions import db
from services.api.ownership import load_visible, owner_id, visible
from services.api.pagination import fetch_page
from services.api.problems import validation_problem
from services.api.route_table import api_route
from services.api.schemas.common import Page, PageQuery
from services.api.schemas.networks import (
    NetworkListItem,
    NetworkSummaryView,
    NetworkView,
    SummaryQuery,
    ValidationView,
)
from services.api.validation import json_body, parse_query
from shared.cnn import DefinitionError, parse_definition, summarize
from shared.cnn.definition import MAX_LAYERS, NetworkDefinition
from shared.db.models import Job, Model, Network

bp = Blueprint("networks", __name__, url_prefix="/api/v1/networks")
# What a stored summary may take: the layer count (MAX_LAYERS) and each layer's bounded explanation keep real
# summaries far below it; this is the guarantee for what is stored and sent with GET /networks/{id}.
MAX_SUMMARY_BYTES = 4 * 1024 * 1024
DEFINITION_DOC = "A network definition: {\"name\", \"input_shape\": [C, H, W], \"layers\": [...]}."


def checked_definition(document: object) -> tuple[dict, dict]:
    """The definition with layer names filled in, and its summary; 422 with the engine's errors."""
    try:
        definition = parse_definition(document)
        summary = summarize(definition)
    except DefinitionError as exc:
        raise validation_problem(exc.errors, "The network definition is not valid: "
                                 + "; ".join(error["msg"] for error in exc.errors[:3])) from None
    summary_dict = summary.as_dict()
    size = len(json.dumps(summary_dict))
    if size > MAX_SUMMARY_BYTES:
        raise validation_problem([{"loc": ["layers"], "msg": (
            f"layers: the summary of this definition would take {size:,} bytes; the limit is "
            f"{MAX_SUMMARY_BYTES:,} bytes (at most {MAX_LAYERS} layers)")}])
    return definition.to_dict(), summary_dict


def network_url(network_id: int) -> str:
    return url_for("networks.get_network", network_id=network_id)


def network_view(network: Network) -> dict:
    return NetworkView(id=network.id, name=network.name, total_params=network.total_params,
                       created_at=network.created_at, url=network_url(network.id),
                       definition=network.definition, summary=network.summary).model_dump(mode="json")


def load_network(network_id: int) -> Network:
    return load_visible(Network, network_id, "Network")


@api_route(bp, "", "POST", summary="Store a network definition; answers its per-layer summary",
           body=NetworkDefinition, response=NetworkView, status=201, problems=(400, 415, 422),
           headers=("Location",), description=DEFINITION_DOC)
def create_network():
    definition, summary = checked_definition(json_body())
    network = Network(owner_id=owner_id(), name=definition["name"], definition=definition, summary=summary,
                      total_params=summary["total_params"])
    session = db()
    session.add(network)
    session.commit()
    response = jsonify(network_view(network))
    response.status_code = 201
    response.headers["Location"] = network_url(network.id)
    return response


@api_route(bp, "/validate", "POST", summary="Check a network definition without storing it",
           body=NetworkDefinition, response=ValidationView, problems=(400, 415, 422),
           description=DEFINITION_DOC)
def validate_network():
    definition, summary = checked_definition(json_body())
    return jsonify(ValidationView(valid=True, definition=definition, summary=summary).model_dump(mode="json"))


@api_route(bp, "", summary="List networks, newest first", query=PageQuery, response=Page[NetworkListItem],
           problems=(400,))
def list_networks():
    query = parse_query(PageQuery)
    rows, next_cursor = fetch_page(db(), visible(select(Network), Network), Network.id, query)
    items = [NetworkListItem(id=row.id, name=row.name, total_params=row.total_params,
                             created_at=row.created_at, url=network_url(row.id)) for row in rows]
    return jsonify(Page[NetworkListItem](items=items, next_cursor=next_cursor).model_dump(mode="json"))


@api_route(bp, "/<id:network_id>", summary="One network with its definition and summary",
           response=NetworkView, problems=(404,))
def get_network(network_id: int):
    return jsonify(network_view(load_network(network_id)))


@api_route(bp, "/<id:network_id>/summary", summary="The network's summary as JSON, a text table or the arithmetic",
           query=SummaryQuery, response=NetworkSummaryView, problems=(400, 404),
           media_types=("application/json", "text/plain"))
def get_summary(network_id: int):
    query = parse_query(SummaryQuery)
    network = load_network(network_id)
    if query.format == "json":
        return jsonify(network.summary)
    rendered = summarize(network.definition)
    text = rendered.as_text() if query.format == "text" else rendered.explain()
    return Response(text + "\n", mimetype="text/plain")


@api_route(bp, "/<id:network_id>", "DELETE", summary="Delete a network no job or model refers to",
           status=204, media_types=(), problems=(404, 409), description=DELETE_DESCRIPTION)
def delete_network(network_id: int):
    network = load_network(network_id)
    refuse_while_referenced("Network", network_id, jobs_where(Job.network_id == network_id),
                            models_where(Model.network_id == network_id))
    return delete_row(network, "Network", [])
