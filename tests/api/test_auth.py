"""Bearer tokens: stored only as a hash, revocable, expiring; 401 problem documents without one."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from shared.accounts import issue_token, secret_hash
from shared.db.models import ApiToken, User, utcnow
from tests.api.conftest import TINY

PROBLEM = "application/problem+json"


def assert_unauthorized(response) -> dict:
    assert response.status_code == 401, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert response.json["type"] == "urn:convforge:problem:unauthorized"
    return response.json


def test_no_token_is_401(anonymous_client):
    # (The health check answers without a token: tests/api/test_health.py asks it with none.)
    body = assert_unauthorized(anonymous_client.get("/api/v1/networks"))
    assert "Authorization: Bearer" in body["detail"]


def test_unknown_token_and_wrong_scheme_are_401(app, client_for, default_user):
    assert_unauthorized(client_for("cf_not-a-token").get("/api/v1/networks"))
    basic = app.test_client()
    basic.environ_base["HTTP_AUTHORIZATION"] = f"Basic {default_user.token}"
    assert_unauthorized(basic.get("/api/v1/networks"))


def test_token_is_stored_only_as_its_hash(client, sessions):
    created = client.post("/api/v1/tokens", json={"name": "laptop", "expires_in_days": 30})
    assert created.status_code == 201, created.json
    secret = created.json["token"]
    assert secret.startswith("cf_") and len(secret) > 40 and created.json["prefix"] == secret[:9]
    with sessions() as session:
        row = session.get(ApiToken, created.json["id"])
        assert row.token_hash == secret_hash(secret) and secret not in (row.token_hash, row.prefix, row.name)
    listed = client.get("/api/v1/tokens").json["items"]
    assert [token["name"] for token in listed] == ["tests", "laptop"]
    assert all("token" not in token for token in listed)


def test_revoked_token_stops_working_at_once(client, client_for):
    secret = client.post("/api/v1/tokens", json={"name": "short-lived"}).json
    other = client_for(secret["token"])
    assert other.get("/api/v1/networks").status_code == 200
    revoked = other.post(f"/api/v1/tokens/{secret['id']}/revoke")
    assert revoked.status_code == 200 and revoked.json["revoked_at"] is not None
    assert_unauthorized(other.get("/api/v1/networks"))
    assert client.get("/api/v1/networks").status_code == 200  # the other token still works


def test_expired_token_is_401(client_for, sessions, default_user):
    with sessions() as session:
        user = session.get(User, default_user.id)
        token, secret = issue_token(session, user, "soon", timedelta(days=1))
        session.commit()
        assert client_for(secret).get("/api/v1/networks").status_code == 200
        session.execute(update(ApiToken).where(ApiToken.id == token.id)
                        .values(expires_at=utcnow() - timedelta(seconds=1)))
        session.commit()
    assert "expired" in assert_unauthorized(client_for(secret).get("/api/v1/networks"))["detail"]


def test_a_user_cannot_revoke_another_users_token(make_user, client_for, client):
    bob = make_user("bob")
    mine = client.post("/api/v1/tokens", json={}).json
    response = client_for(bob.token).post(f"/api/v1/tokens/{mine['id']}/revoke")
    assert response.status_code == 404
    assert client_for(mine["token"]).get("/api/v1/networks").status_code == 200


def test_token_request_is_validated(client):
    response = client.post("/api/v1/tokens", json={"expires_in_days": 0, "colour": "red"})
    assert response.status_code == 422
    assert {tuple(error["loc"]) for error in response.json["errors"]} == {("expires_in_days",), ("colour",)}
    for bad in (True, "30"):  # a number of days is a JSON integer
        response = client.post("/api/v1/tokens", json={"expires_in_days": bad})
        assert response.status_code == 422 and response.json["errors"][0]["loc"] == ["expires_in_days"]


def test_objects_record_their_owner_and_jobs_who_submitted_and_cancelled(client, make_user, client_for, sessions,
                                                                            network_id, dataset_id):
    job = client.post("/api/v1/jobs", json={"kind": "train", "network_id": network_id, "dataset_id": dataset_id})
    assert job.json["submitted_by"] == "tester" and job.json["cancelled_by"] is None
    cancelled = client.post(f"/api/v1/jobs/{job.json['id']}/cancel")
    assert cancelled.json["cancelled_by"] == "tester"
    assert client.get(f"/api/v1/jobs/{job.json['id']}").json["cancelled_by"] == "tester"
    with sessions() as session:
        tester = session.scalars(select(User).where(User.name == "tester")).one()
        from shared.db.models import Dataset, Job, Network

        assert {session.get(Network, network_id).owner_id, session.get(Dataset, dataset_id).owner_id,
                session.get(Job, job.json["id"]).owner_id} == {tester.id}


def test_network_created_by_a_user_is_theirs(make_user, client_for):
    alice = client_for(make_user("alice").token)
    created = alice.post("/api/v1/networks", json=TINY).json
    assert [item["id"] for item in alice.get("/api/v1/networks").json["items"]] == [created["id"]]
