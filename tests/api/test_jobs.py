from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import update

from services.api.app import create_app
from shared.db.models import Job, Metric, Model
from shared.jobs import EVALUATE_TASK, TRAIN_TASK, TrainParams, resolved_params
from tests.api.conftest import LENET5, npz_bytes, upload
from tests.support.accounts import signed_in_client

PROBLEM = "application/problem+json"


def set_job(sessions, job_id: int, **values) -> None:
    """Write the row as a worker would."""
    with sessions.begin() as session:
        session.execute(update(Job).where(Job.id == job_id).values(**values))


def add_model(sessions, settings, network_id: int, dataset_id: int, job_id: int | None = None) -> int:
    path = settings.artifact_dir / "models" / "m.npz"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"model bytes")
    with sessions.begin() as session:
        model = Model(network_id=network_id, dataset_id=dataset_id, job_id=job_id, path="models/m.npz",
                      sha256="a" * 64, size_bytes=11, metrics={"accuracy": 0.5})
        session.add(model)
        session.flush()
        return model.id


def test_train_job_is_queued_then_sent(client, queue, network_id, dataset_id):
    response = client.post("/api/v1/jobs", json={
        "kind": "train", "network_id": network_id, "dataset_id": dataset_id,
        "params": {"epochs": 3, "batch_size": 16, "optimizer": {"type": "adam", "lr": 0.001},
                   "schedule": {"type": "cosine", "warmup_steps": 2}, "seed": 7, "validation_split": 0.2,
                   "workers": 2, "augment": {"crop_padding": 2, "flip": True}, "checkpoint_every_steps": 50}})
    assert response.status_code == 202, response.json
    job = response.json
    assert response.headers["Location"] == f"/api/v1/jobs/{job['id']}"
    assert job["status"] == "queued" and job["progress"]["epochs"] == 3
    assert queue.sent == [(TRAIN_TASK, job["id"])]
    params = job["params"]
    assert params["optimizer"]["type"] == "adam" and params["optimizer"]["lr"] == 0.001
    assert params["schedule"] == {"type": "cosine", "min_lr": 0.0, "warmup_steps": 2}
    assert params["augment"] == {"crop_padding": 2, "flip": True, "erase": 0.0}
    assert (params["workers"], params["seed"], params["checkpoint_every_steps"]) == (2, 7, 50)
    summary = client.get(job["network"]["summary_url"])
    assert summary.status_code == 200 and summary.json["total_params"] > 0
    assert job["dataset"]["name"] == "tiny"


def test_defaults_are_written_out_explicitly(client, network_id, dataset_id):
    job = client.post("/api/v1/jobs", json={"kind": "train", "network_id": network_id,
                                            "dataset_id": dataset_id}).json
    params = job["params"]
    assert (params["epochs"], params["batch_size"], params["seed"], params["validation_split"]) == (1, 64, 0, 0.1)
    assert params["optimizer"]["type"] == "sgd" and params["optimizer"]["momentum"] == 0.9
    assert (params["checkpoint_every_steps"], params["scoring_batch_size"]) == (500, 256)
    assert set(params) == set(TrainParams.model_fields)  # every field written, nothing left to guess
    # Left to the worker, which writes its choice into the row when the job starts.
    assert params["workers"] is None and params["log_every_steps"] is None and job["processes"] is None
    assert params["schedule"] is None


def test_stored_params_are_what_the_worker_parses(client, sessions, network_id, dataset_id):
    job = client.post("/api/v1/jobs", json={"kind": "train", "network_id": network_id, "dataset_id": dataset_id,
                                            "params": {"epochs": 2, "workers": 2}}).json
    with sessions() as session:
        stored = session.get(Job, job["id"]).params
    assert stored == job["params"]
    assert resolved_params(TrainParams.model_validate(stored)) == stored
    assert job["processes"] == 2


def test_job_view_shows_the_processes_the_worker_decided(client, sessions, train_job):
    assert client.get(f"/api/v1/jobs/{train_job['id']}").json["processes"] is None
    set_job(sessions, train_job["id"], status="running", params={**train_job["params"], "workers": 3})
    view = client.get(f"/api/v1/jobs/{train_job['id']}").json
    assert view["processes"] == 3 and view["params"]["workers"] == 3
    assert client.get("/api/v1/jobs").json["items"][0]["processes"] == 3


@pytest.mark.parametrize("params, loc", [
    ({"epochs": 0}, ["params", "epochs"]),
    ({"batch_size": "big"}, ["params", "batch_size"]),
    ({"optimizer": {"type": "rmsprop"}}, ["params", "optimizer", "type"]),
    ({"optimizer": {"lr": -1}}, ["params", "optimizer", "lr"]),
    ({"schedule": {"type": "step"}}, ["params", "schedule"]),
    ({"validation_split": 1.5}, ["params", "validation_split"]),
    ({"workers": 0}, ["params", "workers"]),
    ({"augment": {"crop_padding": -1}}, ["params", "augment", "crop_padding"]),
    ({"augment": {"rotate": 5}}, ["params", "augment", "rotate"]),
    ({"epoch": 3}, ["params", "epoch"]),
])
def test_bad_params_are_422_with_loc(client, queue, network_id, dataset_id, params, loc):
    response = client.post("/api/v1/jobs", json={"kind": "train", "network_id": network_id,
                                                 "dataset_id": dataset_id, "params": params})
    assert response.status_code == 422
    assert response.mimetype == PROBLEM
    assert response.json["errors"][0]["loc"][:len(loc)] == loc
    assert queue.sent == []


def test_unknown_kind_is_422(client):
    response = client.post("/api/v1/jobs", json={"kind": "predict"})
    assert response.status_code == 422 and response.json["errors"][0]["loc"] == ["kind"]


def test_references_must_be_integers_not_booleans_or_strings(client, network_id, dataset_id, queue):
    for bad in (True, "1"):
        response = client.post("/api/v1/jobs", json={"kind": "train", "network_id": bad, "dataset_id": dataset_id})
        assert response.status_code == 422 and response.json["errors"][0]["loc"] == ["network_id"]
        response = client.post("/api/v1/jobs", json={"kind": "evaluate", "model_id": 1, "dataset_id": bad})
        assert response.status_code == 422 and response.json["errors"][0]["loc"] == ["dataset_id"]
    assert queue.sent == []


def test_missing_references_are_422(client, network_id):
    response = client.post("/api/v1/jobs", json={"kind": "train", "network_id": network_id, "dataset_id": 99})
    assert response.status_code == 422
    assert response.json["errors"][0]["loc"] == ["dataset_id"]
    assert "99" in response.json["errors"][0]["msg"]


def test_input_shape_mismatch_says_both_shapes(client, dataset_id):
    network_id = client.post("/api/v1/networks", json=LENET5).json["id"]
    response = client.post("/api/v1/jobs", json={"kind": "train", "network_id": network_id,
                                                 "dataset_id": dataset_id})
    assert response.status_code == 422
    messages = {tuple(error["loc"]): error["msg"] for error in response.json["errors"]}
    assert "(1, 28, 28)" in messages[("dataset_id",)] and "(1, 8, 8)" in messages[("dataset_id",)]
    assert "10 outputs" in messages[("network_id",)] and "3 classes" in messages[("network_id",)]


def test_output_width_mismatch(client, network_id):
    dataset_id = upload(client, npz_bytes(num_classes=4), name="four").json["id"]
    response = client.post("/api/v1/jobs", json={"kind": "train", "network_id": network_id,
                                                 "dataset_id": dataset_id})
    assert response.status_code == 422
    [error] = response.json["errors"]
    assert error["loc"] == ["network_id"] and "3 outputs" in error["msg"] and "4 classes" in error["msg"]


def test_broker_down_marks_the_job_failed_and_answers_503(settings, network_id, dataset_id):
    app = create_app(settings)  # the real queue; REDIS_URL points at a closed port
    client = signed_in_client(app)
    response = client.post("/api/v1/jobs", json={"kind": "train", "network_id": network_id,
                                                 "dataset_id": dataset_id})
    assert response.status_code == 503
    assert response.mimetype == PROBLEM
    assert "broker" in response.json["detail"]
    assert response.json["type"] == "urn:convforge:problem:broker-unavailable"
    job = client.get(response.headers["Location"]).json
    assert job["status"] == "failed" and "could not be queued" in job["error"]
    assert client.get("/api/v1/jobs?status=queued").json["items"] == []
    app.extensions["convforge"].engine.dispose()


def test_evaluate_job(client, queue, sessions, settings, network_id, dataset_id):
    model_id = add_model(sessions, settings, network_id, dataset_id)
    response = client.post("/api/v1/jobs", json={"kind": "evaluate", "model_id": model_id, "dataset_id": dataset_id})
    assert response.status_code == 202
    assert response.json["model_id"] == model_id and response.json["network"]["id"] == network_id
    assert queue.sent == [(EVALUATE_TASK, response.json["id"])]
    assert response.json["params"] == {"batch_size": 256, "test_time_flip": None} and response.json["processes"] is None
    missing = client.post("/api/v1/jobs", json={"kind": "evaluate", "model_id": 77, "dataset_id": dataset_id})
    assert missing.status_code == 422 and missing.json["errors"][0]["loc"] == ["model_id"]


def test_evaluate_on_a_mismatched_dataset(client, sessions, settings, network_id, dataset_id):
    model_id = add_model(sessions, settings, network_id, dataset_id)
    other = upload(client, npz_bytes(num_classes=5), name="five").json["id"]
    response = client.post("/api/v1/jobs", json={"kind": "evaluate", "model_id": model_id, "dataset_id": other})
    assert response.status_code == 422
    assert response.json["errors"][0]["loc"] == ["model_id"]


def test_detail_shows_progress_timings_and_metrics(client, sessions, train_job):
    job_id = train_job["id"]
    started = datetime.now(timezone.utc) - timedelta(seconds=30)
    set_job(sessions, job_id, status="running", attempt=1, epoch=1, epochs=2, step=5, steps=20, eta_seconds=90.0,
            started_at=started, heartbeat_at=started + timedelta(seconds=30),
            latest_metrics={"loss": 0.9, "accuracy": 0.6}, worker_name="celery@w1")
    job = client.get(f"/api/v1/jobs/{job_id}").json
    assert job["progress"] == {"epoch": 1, "epochs": 2, "step": 5, "steps": 20, "fraction": 0.25,
                               "eta_seconds": 90.0}
    assert job["latest_metrics"]["loss"] == 0.9 and job["attempt"] == 1
    assert job["timings"]["duration_seconds"] == 30.0
    assert job["timings"]["started_at"].endswith("Z")


def test_metrics_since(client, sessions, train_job):
    job_id = train_job["id"]
    with sessions.begin() as session:
        for seq in range(1, 6):
            session.add(Metric(job_id=job_id, seq=seq, kind="train" if seq < 5 else "val", epoch=1, step=seq,
                               loss=1.0 / seq, accuracy=0.1 * seq, learning_rate=0.05, images_per_second=1000.0))
    page = client.get(f"/api/v1/jobs/{job_id}/metrics").json
    assert [row["seq"] for row in page["metrics"]] == [1, 2, 3, 4, 5] and page["last_seq"] == 5
    newer = client.get(f"/api/v1/jobs/{job_id}/metrics?since=3").json
    assert [row["seq"] for row in newer["metrics"]] == [4, 5] and newer["metrics"][1]["kind"] == "val"
    nothing = client.get(f"/api/v1/jobs/{job_id}/metrics?since=5").json
    assert nothing["metrics"] == [] and nothing["last_seq"] == 5 and nothing["has_more"] is False
    limited = client.get(f"/api/v1/jobs/{job_id}/metrics?limit=2").json
    assert limited["last_seq"] == 2 and limited["has_more"] is True
    assert client.get(f"/api/v1/jobs/{job_id}/metrics?since=-1").status_code == 400
    assert client.get("/api/v1/jobs/999/metrics").status_code == 404


def test_etag_answers_304_until_the_job_changes(client, sessions, train_job):
    url = f"/api/v1/jobs/{train_job['id']}"
    first = client.get(url)
    etag = first.headers["ETag"]
    again = client.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""
    set_job(sessions, train_job["id"], status="running", step=1, steps=10)
    changed = client.get(url, headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.json["status"] == "running"
    listing = client.get("/api/v1/jobs")
    assert client.get("/api/v1/jobs", headers={"If-None-Match": listing.headers["ETag"]}).status_code == 304
    metrics = client.get(f"{url}/metrics")
    assert client.get(f"{url}/metrics", headers={"If-None-Match": metrics.headers["ETag"]}).status_code == 304


def test_list_paginates_newest_first_and_filters_by_status(client, sessions, network_id, dataset_id):
    ids = [client.post("/api/v1/jobs", json={"kind": "train", "network_id": network_id,
                                             "dataset_id": dataset_id}).json["id"] for _ in range(5)]
    set_job(sessions, ids[1], status="running")
    set_job(sessions, ids[3], status="succeeded")
    seen, cursor = [], None
    while True:
        page = client.get("/api/v1/jobs", query_string={"limit": 2, **({"cursor": cursor} if cursor else {})}).json
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ids[::-1]
    running = client.get("/api/v1/jobs?status=running").json["items"]
    assert [item["id"] for item in running] == [ids[1]]
    assert len(client.get("/api/v1/jobs?status=&cursor=").json["items"]) == 5
    active = client.get("/api/v1/jobs?status=queued,running").json["items"]
    assert [item["id"] for item in active] == [ids[4], ids[2], ids[1], ids[0]]
    assert active[0]["dataset"]["name"] == "tiny" and active[0]["network"]["name"] == "tiny"


@pytest.mark.parametrize("query", ["status=done", "limit=0", "limit=1000", "cursor=x1"])
def test_bad_job_list_query_is_400(client, query):
    response = client.get(f"/api/v1/jobs?{query}")
    assert response.status_code == 400
    assert response.mimetype == PROBLEM
    assert response.json["errors"][0]["loc"][0] == "query"


def test_cancel_queued_job_is_immediate_and_revoked(client, queue, train_job):
    response = client.post(f"/api/v1/jobs/{train_job['id']}/cancel")
    assert response.status_code == 200
    assert response.json["status"] == "cancelled" and response.json["timings"]["finished_at"]
    assert queue.revoked == [train_job["id"]]
    sent_id, revoked_id = queue.task_ids[train_job["id"]]
    assert revoked_id == sent_id


def test_cancel_running_job_asks_the_worker(client, queue, sessions, train_job):
    set_job(sessions, train_job["id"], status="running")
    response = client.post(f"/api/v1/jobs/{train_job['id']}/cancel")
    assert response.status_code == 202
    assert response.json["status"] == "running" and response.json["cancel_requested"] is True
    assert queue.revoked == []


@pytest.mark.parametrize("status", ["succeeded", "failed", "cancelled"])
def test_cancel_finished_job_is_409(client, sessions, train_job, status):
    set_job(sessions, train_job["id"], status=status)
    response = client.post(f"/api/v1/jobs/{train_job['id']}/cancel")
    assert response.status_code == 409
    assert response.mimetype == PROBLEM
    assert status in response.json["detail"]


def test_cancel_missing_job_is_404(client):
    assert client.post("/api/v1/jobs/12345/cancel").status_code == 404


def test_succeeded_job_links_its_model(client, sessions, settings, train_job, network_id, dataset_id):
    model_id = add_model(sessions, settings, network_id, dataset_id, job_id=train_job["id"])
    set_job(sessions, train_job["id"], status="succeeded", model_id=model_id, step=4, steps=4,
            result={"accuracy": 0.5})
    job = client.get(f"/api/v1/jobs/{train_job['id']}").json
    assert job["model_url"] == f"/api/v1/models/{model_id}"
    assert job["progress"]["fraction"] == 1.0 and job["result"] == {"accuracy": 0.5}


def test_list_items_carry_params_and_a_small_result_summary(client, sessions, network_id, dataset_id):
    ids = [client.post("/api/v1/jobs", json={
        "kind": "train", "network_id": network_id, "dataset_id": dataset_id,
        "params": {"epochs": epochs, "batch_size": 8, "optimizer": {"type": "adam", "lr": 0.002}}}).json["id"]
        for epochs in (2, 3)]
    listing = client.get("/api/v1/jobs")
    set_job(sessions, ids[0], status="succeeded", step=4, steps=4, result={
        "split": "test", "loss": 0.42, "accuracy": 0.875, "macro_f1": 0.86,
        "per_class": [{"name": "a", "precision": 1.0, "recall": 0.75, "f1": 0.86, "support": 4}],
        "confusion_matrix": [[3, 1], [0, 4]]})
    # The result changes the list, so the old ETag no longer answers 304.
    changed = client.get("/api/v1/jobs", headers={"If-None-Match": listing.headers["ETag"]})
    assert changed.status_code == 200
    items = {item["id"]: item for item in changed.json["items"]}
    finished, queued = items[ids[0]], items[ids[1]]
    for item, epochs in ((finished, 2), (queued, 3)):
        assert item["params"] == client.get(f"/api/v1/jobs/{item['id']}").json["params"]
        assert (item["params"]["epochs"], item["params"]["batch_size"]) == (epochs, 8)
        assert item["params"]["optimizer"]["type"] == "adam" and item["params"]["optimizer"]["lr"] == 0.002
        assert "result" not in item
    assert finished["result_summary"] == {"accuracy": 0.875, "loss": 0.42, "macro_f1": 0.86, "split": "test",
                                         "test_time_flip": False}
    assert queued["result_summary"] is None
    detail = client.get(f"/api/v1/jobs/{ids[0]}").json
    assert detail["result_summary"] == finished["result_summary"]
    assert detail["result"]["confusion_matrix"] == [[3, 1], [0, 4]]
    assert client.get("/api/v1/jobs", headers={"If-None-Match": changed.headers["ETag"]}).status_code == 304


# 32 wide maps: an evaluation of 2048 images at once needs more than the 130 MiB limit, 16 images do not.
WIDE_WINDOW = {"name": "wide", "input_shape": [1, 8, 8], "layers": [
    {"type": "conv2d", "filters": 32, "kernel_size": 7, "padding": "same"}, {"type": "relu"},
    {"type": "flatten"}, {"type": "dense", "units": 3}]}


def test_a_job_a_worker_cannot_hold_is_refused_with_the_estimate_and_the_limit(client, env, dataset_id):
    env.setenv("WORKER_MEMORY_BYTES", str(130 * 2**20))
    from services.api.app import create_app
    from shared.config import load_settings
    from tests.api.conftest import RecordingQueue
    from tests.support.accounts import signed_in_client
    app = create_app(load_settings())
    app.extensions["convforge"].job_queue = RecordingQueue()
    limited = signed_in_client(app)
    network_id = limited.post("/api/v1/networks", json=WIDE_WINDOW).json["id"]

    many_processes = limited.post("/api/v1/jobs", json={"kind": "train", "network_id": network_id,
                                                        "dataset_id": dataset_id, "params": {"workers": 8}})
    assert many_processes.status_code == 422
    assert "in 8 processes" in many_processes.json["detail"] and "130 MiB" in many_processes.json["detail"]
    assert many_processes.json["errors"][0]["loc"] == ["params", "batch_size"]
    fits = limited.post("/api/v1/jobs", json={"kind": "train", "network_id": network_id,
                                              "dataset_id": dataset_id, "params": {"workers": 1}})
    assert fits.status_code == 202, fits.json

    model_id = add_model(app.extensions["convforge"].sessions, load_settings(), network_id, dataset_id)
    huge_batch = limited.post("/api/v1/jobs", json={"kind": "evaluate", "model_id": model_id,
                                                    "dataset_id": dataset_id, "params": {"batch_size": 65_536}})
    assert huge_batch.status_code == 422 and "130 MiB" in huge_batch.json["detail"]
    small_batch = limited.post("/api/v1/jobs", json={"kind": "evaluate", "model_id": model_id,
                                                     "dataset_id": dataset_id, "params": {"batch_size": 16}})
    assert small_batch.status_code == 202, small_batch.json
    assert [job["kind"] for job in limited.get("/api/v1/jobs").json["items"]] == ["evaluate", "train"]
    app.extensions["convforge"].engine.dispose()
