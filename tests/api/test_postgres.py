"""The same API on PostgreSQL, as docker-compose runs it: JSON columns, booleans, keyset pages, cancel."""
import pytest

from services.api.app import create_app
from shared.config import load_settings
from shared.db.migrate import upgrade_to_head
from tests.api.conftest import TINY, RecordingQueue, npz_bytes, upload
from tests.support.accounts import signed_in_client
from tests.support.fixtures import postgres_database_url, postgres_server_url  # noqa: F401

pytestmark = pytest.mark.e2e


@pytest.fixture
def pg_client(env, postgres_database_url):
    env.setenv("DATABASE_URL", postgres_database_url)
    settings = load_settings()
    upgrade_to_head(settings.database_url)
    app = create_app(settings)
    app.extensions["convforge"].job_queue = RecordingQueue()
    yield signed_in_client(app)
    app.extensions["convforge"].engine.dispose()


def test_network_dataset_job_round_trip(pg_client):
    network = pg_client.post("/api/v1/networks", json=TINY)
    assert network.status_code == 201
    dataset = upload(pg_client, npz_bytes(), name="tiny")
    assert dataset.status_code == 201 and dataset.json["class_counts"] == [20, 20, 20]
    ids = []
    for _ in range(3):
        response = pg_client.post("/api/v1/jobs", json={"kind": "train", "network_id": network.json["id"],
                                                        "dataset_id": dataset.json["id"],
                                                        "params": {"augment": {"flip": True}}})
        assert response.status_code == 202
        ids.append(response.json["id"])
    first_page = pg_client.get("/api/v1/jobs?limit=2").json
    second_page = pg_client.get(f"/api/v1/jobs?limit=2&cursor={first_page['next_cursor']}").json
    assert [job["id"] for job in first_page["items"] + second_page["items"]] == ids[::-1]
    cancelled = pg_client.post(f"/api/v1/jobs/{ids[0]}/cancel")
    assert cancelled.status_code == 200 and cancelled.json["status"] == "cancelled"
    assert pg_client.post(f"/api/v1/jobs/{ids[0]}/cancel").status_code == 409
    queued = pg_client.get("/api/v1/jobs?status=queued").json["items"]
    assert [job["id"] for job in queued] == ids[:0:-1]
    assert pg_client.get(f"/api/v1/jobs/{ids[1]}").json["params"]["augment"] == {"crop_padding": 0, "flip": True, "erase": 0.0}
    assert pg_client.get("/api/v1/jobs/2147483647").status_code == 404
