import pytest

from services.api.app import create_app


def health(settings):
    app = create_app(settings)
    try:
        return app.test_client().get("/api/v1/health")  # public: no token
    finally:
        app.extensions["convforge"].engine.dispose()


def test_broker_down_is_503_and_says_so(settings):
    response = health(settings)
    assert response.status_code == 503
    body = response.json
    assert body["status"] == "unavailable"
    assert body["database"]["ok"] is True
    assert body["broker"]["ok"] is False and body["broker"]["error"]
    assert body["workers"] == []


@pytest.mark.e2e
def test_real_redis_is_200_with_no_workers(env, redis_url):
    from shared.config import load_settings
    from shared.db.migrate import upgrade_to_head

    env.setenv("REDIS_URL", redis_url)
    settings = load_settings()
    upgrade_to_head(settings.database_url)
    response = health(settings)
    assert response.status_code == 200
    assert response.json == {"status": "ok", "database": {"ok": True, "error": None},
                             "broker": {"ok": True, "error": None, "url": redis_url}, "workers": []}


def test_database_down_is_503(env, tmp_path):
    from shared.config import load_settings

    (tmp_path / "blocker").write_text("a file where a folder should be")
    env.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'blocker' / 'db.sqlite'}")
    response = health(load_settings())
    assert response.status_code == 503
    assert response.json["database"]["ok"] is False and response.json["database"]["error"]
