"""The isolation matrix, generated from the OpenAPI document: for every route and method,

    anonymous  no credentials                         -> 401 (the health check excepted)
    other      user B asks with user A's ids          -> 404, and nothing stored changed
    admin      an admin asks with user A's ids        -> allowed (2xx)

A route added to the API joins the matrix by itself; one whose path parameter or request body the
matrix cannot fill fails here until it is described in PATH_VALUES or BODIES below.
"""
from __future__ import annotations

import dataclasses
import io
import re
import tempfile
from pathlib import Path

import pytest
from sqlalchemy import select

from services.api.app import create_app
from services.api.openapi import build_document
from shared.cnn import build_network
from shared.config import load_settings
from shared.db.models import Base
from shared.export.onnx_export import export_onnx_bytes
from tests.api.conftest import TINY, npz_bytes, upload
from tests.api.saved_model import add_saved_model

CASES = ("anonymous", "other", "admin")
# Columns that change by merely being used: not "something changed".
IGNORED_COLUMNS = {("api_tokens", "last_used_at")}


def served_document() -> dict:
    """The OpenAPI document, built as the app serves it."""
    folder = Path(tempfile.mkdtemp(prefix="convforge-openapi-"))
    settings = dataclasses.replace(load_settings(), var_dir=folder, secret_key="collection",
                                   database_url=f"sqlite:///{folder / 'unused.db'}")
    app = create_app(settings)
    try:
        with app.app_context():
            document = build_document("matrix")
    finally:
        app.extensions["convforge"].engine.dispose()
    return document


DOCUMENT = served_document()
# (path, method) of every operation.
ROUTES = [(path, method.upper()) for path, operations in DOCUMENT["paths"].items() for method in operations]


def documented_public(path: str, method: str) -> bool:
    """The document says this operation needs no credentials (`security: []`)."""
    return DOCUMENT["paths"][path][method.lower()].get("security") == []


@dataclasses.dataclass
class World:
    """User A's objects, and clients for nobody, user B and an admin."""

    ids: dict[str, object]
    anonymous: object
    other: object
    admin: object
    owner: object
    other_user_id: int


@pytest.fixture
def world(app, settings, client, make_user, client_for, sessions) -> World:
    alice_account = make_user("alice")
    alice = client_for(alice_account.token)
    bob_account = make_user("bob")
    bob = client_for(bob_account.token)
    network = alice.post("/api/v1/networks", json=TINY).json
    dataset = upload(alice, npz_bytes(), name="alice-data").json
    job = alice.post("/api/v1/jobs", json={"kind": "train", "network_id": network["id"],
                                           "dataset_id": dataset["id"]}).json
    token = alice.post("/api/v1/tokens", json={"name": "alice-extra"}).json
    model_id, _net = add_saved_model(sessions, settings, network["id"], dataset["id"], definition=TINY,
                                     owner_id=alice_account.id)
    sample_url = dataset["classes"][0]["sample_urls"][0]
    ids = {"network_id": network["id"], "dataset_id": dataset["id"], "job_id": job["id"],
           "model_id": model_id, "token_id": token["id"], "filename": sample_url.rsplit("/", 1)[1],
           "split": "train", "index": 0}
    return World(ids=ids, anonymous=app.test_client(), other=bob, admin=client, owner=alice,
                 other_user_id=bob_account.id)


# Path parameter -> the key in World.ids of user A's object it names.
PATH_VALUES = {"network_id": "network_id", "dataset_id": "dataset_id", "job_id": "job_id",
               "model_id": "model_id", "token_id": "token_id", "filename": "filename", "split": "split",
               "index": "index"}


def _train_job(ids: dict) -> dict:
    return {"json": {"kind": "train", "network_id": ids["network_id"], "dataset_id": ids["dataset_id"]}}


TINY_SAMPLE = [[[0] * 8] * 8]  # one (1, 8, 8) sample


def _onnx_import(ids: dict) -> dict:
    """A TINY network as ONNX, for user A's (3-class, 1x8x8) dataset."""
    onnx = export_onnx_bytes(build_network(TINY, seed=1), [0.5], [0.25])
    return {"data": {"file": (io.BytesIO(onnx), "tiny.onnx"), "dataset_id": str(ids["dataset_id"])},
            "content_type": "multipart/form-data"}


# (method, path) -> the request's keyword arguments, given user A's ids. Bodies that name user A's
# objects are marked: user B must get exactly the answer an id that exists nowhere gets.
BODIES = {
    ("POST", "/api/v1/networks"): lambda ids: {"json": TINY},
    ("POST", "/api/v1/networks/validate"): lambda ids: {"json": TINY},
    ("POST", "/api/v1/datasets"): lambda ids: {"data": {"file": (npz_bytes(), "b.npz")},
                                               "content_type": "multipart/form-data"},
    ("POST", "/api/v1/jobs"): _train_job,
    ("POST", "/api/v1/tokens"): lambda ids: {"json": {"name": "matrix"}},
    ("POST", "/api/v1/jobs/{job_id}/cancel"): lambda ids: {},
    ("POST", "/api/v1/tokens/{token_id}/revoke"): lambda ids: {},
    ("POST", "/api/v1/models/{model_id}/predict"): lambda ids: {"json": {"inputs": TINY_SAMPLE}},
    ("POST", "/api/v1/models/{model_id}/feature-maps"): lambda ids: {"json": {"inputs": TINY_SAMPLE}},
    ("POST", "/api/v1/models/import"): _onnx_import,
    ("DELETE", "/api/v1/networks/{network_id}"): lambda ids: {},
    ("DELETE", "/api/v1/datasets/{dataset_id}"): lambda ids: {},
    ("DELETE", "/api/v1/models/{model_id}"): lambda ids: {},
    ("DELETE", "/api/v1/jobs/{job_id}"): lambda ids: {},
}
REFERENCES_IN_BODY = {("POST", "/api/v1/jobs"), ("POST", "/api/v1/models/import")}
NOWHERE = 2**31 - 1


def request_for(method: str, path: str, ids: dict) -> tuple[str, dict]:
    url = path
    for name in re.findall(r"{(\w+)}", path):
        assert name in PATH_VALUES, f"{method} {path}: add the path parameter {name!r} to PATH_VALUES"
        url = url.replace("{" + name + "}", str(ids[PATH_VALUES[name]]))
    if method == "GET":
        return url, {}
    assert (method, path) in BODIES, f"{method} {path}: add an example request to BODIES"
    return url, BODIES[(method, path)](ids)


def snapshot(sessions) -> dict:
    """Every stored row, by table and primary key."""
    rows = {}
    with sessions() as session:
        for table in Base.metadata.sorted_tables:
            columns = [column for column in table.columns if (table.name, column.name) not in IGNORED_COLUMNS]
            for row in session.execute(select(*columns)):
                rows[(table.name, row[0])] = tuple(row)
    return rows


def test_the_matrix_is_the_served_document(client):
    served = client.get("/api/v1/openapi.json").json["paths"]
    assert sorted(ROUTES) == sorted((path, method.upper()) for path, ops in served.items() for method in ops)
    assert len(ROUTES) >= 20


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("path,method", ROUTES, ids=[f"{m} {p}" for p, m in ROUTES])
def test_isolation(world, sessions, path, method, case):
    url, kwargs = request_for(method, path, world.ids)
    client = getattr(world, case)
    before = snapshot(sessions)
    response = client.open(url, method=method, **kwargs)
    after = snapshot(sessions)
    answer = f"{method} {url} as {case}: {response.status_code} {response.get_data()[:300]!r}"

    if case == "anonymous":
        if documented_public(path, method):
            assert response.status_code == 200, answer
        else:
            assert response.status_code == 401, answer
            assert response.mimetype == "application/problem+json", answer
            assert after == before, f"{answer}: something changed"
        return

    if case == "admin":
        # The admin reaches every object; a deletion may still be refused because the world's job uses it.
        in_use = method == "DELETE" and response.status_code == 409
        assert 200 <= response.status_code < 300 or in_use, answer
        return

    # User B with user A's ids.
    changed = {key for key in before if after.get(key) != before[key]}
    assert not changed, f"{answer}: user B changed {sorted(changed)}"
    if "{" in path:
        assert response.status_code == 404, answer
        assert response.mimetype == "application/problem+json", answer
    elif (method, path) in REFERENCES_IN_BODY:
        # An id in a body answers as one that exists nowhere would: nothing tells B that A's exists.
        nowhere = {name: NOWHERE if isinstance(value, int) else value for name, value in world.ids.items()}
        _, nowhere_kwargs = request_for(method, path, nowhere)
        expected = client.open(url, method=method, **nowhere_kwargs)
        assert response.status_code == expected.status_code == 422, answer
        assert set(after) == set(before), f"{answer}: something was created"
    elif method == "GET":
        assert response.status_code == 200, answer
        # A list: none of its items is user A's object of that kind (networks -> network_id ...).
        items = response.json.get("items", []) if isinstance(response.json, dict) else []
        own_kind = path.rstrip("/").rsplit("/", 1)[1].removesuffix("s") + "_id"
        assert world.ids.get(own_kind) not in {item.get("id") for item in items}, f"{answer}: B sees A's"
    else:  # B creates something of B's own; A's rows stay as they were
        assert 200 <= response.status_code < 300, answer
        assert owners_of(sessions, set(after) - set(before)) <= {world.other_user_id}, answer


def owners_of(sessions, keys: set) -> set[int]:
    """The owners of these new rows (of the tables that have owners)."""
    owners = set()
    with sessions() as session:
        for table_name, ident in keys:
            table = Base.metadata.tables[table_name]
            if "owner_id" in table.columns:
                owners.add(session.scalars(select(table.c.owner_id).where(table.c.id == ident)).one())
    return owners
