"""Every failure is a problem document: no HTML error page, no traceback."""
import pytest

from services.api.app import create_app
from shared.config import load_settings
from tests.support.accounts import bearer_client, signed_in_client

PROBLEM = "application/problem+json"


def assert_problem(response, status: int) -> dict:
    assert response.status_code == status
    assert response.mimetype == PROBLEM
    body = response.json
    assert set(body) >= {"type", "title", "status", "detail"} and body["status"] == status
    assert "Traceback" not in response.get_data(as_text=True)
    return body


def test_unknown_url_is_404(client):
    assert_problem(client.get("/api/v1/nothing-here"), 404)


def test_wrong_method_is_405_with_allow(client):
    response = client.delete("/api/v1/networks")
    assert_problem(response, 405)
    assert "GET" in response.headers["Allow"]


def test_malformed_json_is_400(client):
    response = client.post("/api/v1/networks", data="{not json", content_type="application/json")
    body = assert_problem(response, 400)
    assert "JSON" in body["detail"]


def test_not_json_is_415(client):
    assert_problem(client.post("/api/v1/networks", data="x", content_type="text/plain"), 415)
    assert_problem(client.post("/api/v1/jobs", data="kind=train",
                               content_type="application/x-www-form-urlencoded"), 415)


def test_body_over_the_limit_is_413(env, settings):
    env.setenv("MAX_UPLOAD_BYTES", "100")
    app = create_app(load_settings())
    response = signed_in_client(app).post("/api/v1/networks", data="x" * 500, content_type="application/json")
    assert_problem(response, 413)
    app.extensions["convforge"].engine.dispose()


@pytest.mark.parametrize("url", ["/api/v1/networks", "/api/v1/jobs", "/api/v1/jobs/1", "/api/v1/datasets"])
def test_database_unavailable_is_503(env, tmp_path, url):
    (tmp_path / "blocker").write_text("a file where a folder should be")
    env.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'blocker' / 'db.sqlite'}")
    app = create_app(load_settings())
    body = assert_problem(bearer_client(app, "cf_unchecked").get(url), 503)
    assert "database" in body["detail"].lower()


def test_unexpected_error_is_a_500_problem_without_internals(app, client, monkeypatch):
    import services.api.resources.networks as networks

    def broken(*_args, **_kwargs):
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(networks, "fetch_page", broken)
    response = client.get("/api/v1/networks")
    body = assert_problem(response, 500)
    assert "secret" not in response.get_data(as_text=True) and body["title"] == "Internal error"


def test_postgresql_unreachable_is_503(env):
    from tests.support.services import free_port

    env.setenv("DATABASE_URL", f"postgresql+psycopg://convforge@127.0.0.1:{free_port()}/convforge")
    app = create_app(load_settings())
    client = bearer_client(app, "cf_unchecked")
    assert_problem(client.get("/api/v1/jobs"), 503)
    assert_problem(client.post("/api/v1/networks", json={"input_shape": [1, 4, 4], "layers": [{"type": "flatten"}]}),
                   503)
    app.extensions["convforge"].engine.dispose()


@pytest.mark.parametrize("url", ["/api/v1/jobs/99999999999999999999", "/api/v1/networks/0",
                                 "/api/v1/models/2147483648/download"])
def test_ids_out_of_range_are_404(client, url):
    assert_problem(client.get(url), 404)


def test_unmigrated_database_says_to_migrate(env, tmp_path):
    (tmp_path / "var").mkdir()
    app = create_app(load_settings())  # an empty database file: never migrated
    body = assert_problem(bearer_client(app, "cf_unchecked").get("/api/v1/jobs"), 503)
    assert "convforge migrate" in body["detail"]
    app.extensions["convforge"].engine.dispose()
