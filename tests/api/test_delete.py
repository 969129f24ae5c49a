"""DELETE for networks, datasets, models and finished jobs, on SQLite and on PostgreSQL: refused with the
referring ids while anything refers to it, the row first and its stored objects after, crash-safe."""
from __future__ import annotations

import threading

import pytest
from sqlalchemy import select, update
from werkzeug.serving import make_server

from services.api.app import create_app
from services.cli.main import main
from shared.config import load_settings
from shared.db.migrate import upgrade_to_head
from shared.db.models import ArtifactRemoval, Job, Metric, Model, Network
from shared.storage import StoreUnavailable
from shared.storage.local import LocalStore
from tests.api.conftest import TINY, RecordingQueue, npz_bytes, upload
from tests.support.accounts import add_account, bearer_client
from tests.support.fixtures import postgres_database_url, postgres_server_url  # noqa: F401
from tests.support.services import free_port

PROBLEM = "application/problem+json"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.e2e)])
def app(request, env):
    if request.param == "postgresql":
        env.setenv("DATABASE_URL", request.getfixturevalue("postgres_database_url"))
    settings = load_settings()
    upgrade_to_head(settings.database_url)
    application = create_app(settings)
    application.extensions["convforge"].job_queue = RecordingQueue()
    yield application
    application.extensions["convforge"].engine.dispose()


@pytest.fixture
def account(app):
    return add_account(app, "owner")


@pytest.fixture
def client(app, account):
    return bearer_client(app, account.token)


@pytest.fixture
def resources(app):
    return app.extensions["convforge"]


def stored_keys(resources, prefix: str) -> list[str]:
    return resources.store.keys(prefix)


def new_network(client) -> int:
    return client.post("/api/v1/networks", json=TINY).json["id"]


def new_dataset(client) -> dict:
    response = upload(client, npz_bytes(), name="tiny")
    assert response.status_code == 201, response.json
    return response.json


def new_job(client, network_id: int, dataset_id: int) -> int:
    response = client.post("/api/v1/jobs", json={"kind": "train", "network_id": network_id,
                                                 "dataset_id": dataset_id})
    assert response.status_code == 202, response.json
    return response.json["id"]


def finish(resources, job_id: int, status: str = "succeeded") -> None:
    with resources.sessions.begin() as session:
        session.execute(update(Job).where(Job.id == job_id).values(status=status))


def new_model(resources, network_id: int, dataset_id: int, job_id: int | None, name: str = "m") -> int:
    key = f"models/{name}.npz"
    source = resources.settings.artifact_dir.parent / f"{name}.npz"
    source.write_bytes(b"model bytes")
    resources.store.put_file(key, source)
    with resources.sessions.begin() as session:
        owner = session.get(Network, network_id).owner_id  # a model belongs to whoever trained it
        model = Model(owner_id=owner, network_id=network_id, dataset_id=dataset_id, job_id=job_id, path=key, sha256="a" * 64,
                      size_bytes=11, metrics={})
        session.add(model)
        session.flush()
        if job_id is not None:
            session.execute(update(Job).where(Job.id == job_id).values(model_id=model.id))
        return model.id


def test_unreferenced_network_and_dataset_are_deleted_with_their_files(client, resources):
    network_id, dataset = new_network(client), new_dataset(client)
    folder = dataset["url"]
    prefix = f"{_dataset_path(resources, dataset['id'])}/"
    assert stored_keys(resources, prefix)

    assert client.delete(f"/api/v1/networks/{network_id}").status_code == 204
    assert client.delete(folder).status_code == 204

    assert client.get(f"/api/v1/networks/{network_id}").status_code == 404
    assert client.get(folder).status_code == 404
    assert stored_keys(resources, prefix) == []
    assert client.delete(folder).status_code == 404
    with resources.sessions() as session:
        assert session.scalars(select(ArtifactRemoval)).all() == []


def test_a_queued_or_running_job_blocks_deletion_and_is_named(client, resources):
    network_id, dataset = new_network(client), new_dataset(client)
    queued, running = new_job(client, network_id, dataset["id"]), new_job(client, network_id, dataset["id"])
    finish(resources, running, "running")

    for url in (f"/api/v1/networks/{network_id}", dataset["url"], f"/api/v1/jobs/{queued}",
                f"/api/v1/jobs/{running}"):
        response = client.delete(url)
        assert response.status_code == 409 and response.mimetype == PROBLEM, url
        assert response.json["type"] == "urn:convforge:problem:in-use"
    network = client.delete(f"/api/v1/networks/{network_id}").json
    assert network["jobs"] == [queued, running]
    assert f"jobs {queued}, {running}" in network["detail"]
    assert client.get(f"/api/v1/networks/{network_id}").status_code == 200
    assert stored_keys(resources, f"{_dataset_path(resources, dataset['id'])}/")


def test_finished_jobs_and_models_must_be_deleted_first(client, resources):
    network_id, dataset = new_network(client), new_dataset(client)
    job_id = new_job(client, network_id, dataset["id"])
    finish(resources, job_id)
    model_id = new_model(resources, network_id, dataset["id"], job_id)
    evaluation = client.post("/api/v1/jobs", json={"kind": "evaluate", "model_id": model_id,
                                                   "dataset_id": dataset["id"]}).json["id"]
    finish(resources, evaluation)

    refused = client.delete(f"/api/v1/networks/{network_id}")
    assert refused.status_code == 409 and refused.json["type"] == "urn:convforge:problem:referenced"
    assert refused.json["jobs"] == [job_id, evaluation] and refused.json["models"] == [model_id]
    refused = client.delete(f"/api/v1/models/{model_id}")
    assert refused.status_code == 409 and refused.json["jobs"] == [evaluation]

    assert client.delete(f"/api/v1/jobs/{evaluation}").status_code == 204
    assert client.delete(f"/api/v1/models/{model_id}").status_code == 204
    assert stored_keys(resources, "models/") == []
    # The training job that produced the model stays, detached from it.
    assert client.get(f"/api/v1/jobs/{job_id}").json["model_id"] is None
    assert client.delete(dataset["url"]).json["jobs"] == [job_id]
    assert client.delete(f"/api/v1/jobs/{job_id}").status_code == 204
    assert client.delete(f"/api/v1/networks/{network_id}").status_code == 204
    assert client.delete(dataset["url"]).status_code == 204


def test_deleting_a_job_takes_its_metrics_and_detaches_its_model(client, resources):
    network_id, dataset = new_network(client), new_dataset(client)
    job_id = new_job(client, network_id, dataset["id"])
    finish(resources, job_id, "failed")
    with resources.sessions.begin() as session:
        session.add(Metric(job_id=job_id, seq=1, kind="train", epoch=1, step=1, loss=1.0, accuracy=0.5))
    model_id = new_model(resources, network_id, dataset["id"], job_id)

    assert client.delete(f"/api/v1/jobs/{job_id}").status_code == 204

    assert client.get(f"/api/v1/jobs/{job_id}").status_code == 404
    assert client.get(f"/api/v1/models/{model_id}").json["job_id"] is None
    with resources.sessions() as session:
        assert session.scalars(select(Metric).where(Metric.job_id == job_id)).all() == []


def test_objects_left_by_a_store_outage_are_removed_by_the_next_deletion(client, resources, monkeypatch):
    network_id, dataset = new_network(client), new_dataset(client)
    prefix = f"{_dataset_path(resources, dataset['id'])}/"

    def unreachable(self, keys):
        raise StoreUnavailable("the artifact store could not be reached")

    monkeypatch.setattr(LocalStore, "delete", unreachable)
    # The row is gone at once; the objects wait, recorded, for the store to come back.
    assert client.delete(dataset["url"]).status_code == 204
    assert client.get(dataset["url"]).status_code == 404
    assert stored_keys(resources, prefix)
    with resources.sessions() as session:
        assert session.scalars(select(ArtifactRemoval.prefix)).all() == [prefix]

    monkeypatch.undo()
    assert client.delete(f"/api/v1/networks/{network_id}").status_code == 204
    assert stored_keys(resources, prefix) == []
    with resources.sessions() as session:
        assert session.scalars(select(ArtifactRemoval)).all() == []


def test_someone_elses_resources_are_not_found(app, client):
    network_id, dataset = new_network(client), new_dataset(client)
    stranger = bearer_client(app, add_account(app, "stranger").token)
    assert stranger.delete(f"/api/v1/networks/{network_id}").status_code == 404
    assert stranger.delete(dataset["url"]).status_code == 404
    assert client.get(f"/api/v1/networks/{network_id}").status_code == 200


def test_the_cli_deletes_and_prints_the_refusal(app, client, account, resources, monkeypatch, capsys):
    network_id, dataset = new_network(client), new_dataset(client)
    job_id = new_job(client, network_id, dataset["id"])
    port = free_port()
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("CONVFORGE_API_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("CONVFORGE_TOKEN", account.token)
    try:
        assert main(["delete", "network", str(network_id)]) == 1
        assert f"used by queued or running jobs {job_id}" in capsys.readouterr().err
        finish(resources, job_id, "cancelled")
        assert main(["delete", "job", str(job_id)]) == 0
        assert main(["delete", "network", str(network_id)]) == 0
        assert capsys.readouterr().out.splitlines() == [f"deleted job {job_id}", f"deleted network {network_id}"]
        assert main(["delete", "model", "99"]) == 1
        assert "Model 99 does not exist" in capsys.readouterr().err
    finally:
        server.shutdown()
        thread.join()


def _dataset_path(resources, dataset_id: int) -> str:
    from shared.db.models import Dataset
    with resources.sessions() as session:
        return session.get(Dataset, dataset_id).path
