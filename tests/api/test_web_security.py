"""The dashboard's session, CSRF and cross-site rules, the Host allow-list and the security headers,
through Flask's test client (tests/browser has the same in Chromium)."""
from __future__ import annotations

import re

import pytest

from services.api.app import create_app
from shared.config import load_settings


def logged_in(app, token: str, base_url: str = "http://localhost"):
    browser = app.test_client()
    response = browser.post("/login", data={"token": token}, base_url=base_url)
    assert response.status_code == 303, response.get_data(as_text=True)
    page = browser.get("/", base_url=base_url).get_data(as_text=True)
    csrf = re.search(r'<meta name="csrf-token" content="([^"]+)">', page)[1]
    return browser, csrf, response.headers["Set-Cookie"]


def test_login_sets_an_httponly_samesite_lax_cookie_secure_only_over_https(app, default_user):
    _, _, cookie = logged_in(app, default_user.token)
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    _, _, cookie = logged_in(app, default_user.token, base_url="https://localhost")
    assert "Secure" in cookie


def test_bad_token_on_the_login_page_is_401_and_sets_no_session(app):
    browser = app.test_client()
    response = browser.post("/login", data={"token": "cf_wrong"})
    assert response.status_code == 401 and "not valid" in response.get_data(as_text=True)
    assert browser.get("/").status_code == 302


def test_pages_send_the_browser_to_login_and_back(anonymous_client):
    response = anonymous_client.get("/compare?jobs=1,2")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=/compare?jobs%3D1,2"
    assert anonymous_client.get("/login").status_code == 200


def test_login_redirects_only_to_paths_on_this_server(app, default_user):
    response = app.test_client().post("/login", data={"token": default_user.token, "next": "//evil.example/x"})
    assert response.headers["Location"] == "/"


def test_session_requests_that_change_something_need_the_csrf_token(app, default_user, network_id, dataset_id):
    browser, csrf, _ = logged_in(app, default_user.token)
    job = {"kind": "train", "network_id": network_id, "dataset_id": dataset_id}
    refused = browser.post("/api/v1/jobs", json=job)
    assert refused.status_code == 403 and refused.json["type"] == "urn:convforge:problem:csrf"
    assert browser.post("/api/v1/jobs", json=job, headers={"X-CSRF-Token": "forged"}).status_code == 403
    assert browser.get("/api/v1/jobs").json["items"] == []  # reading needs no CSRF token; nothing was made
    accepted = browser.post("/api/v1/jobs", json=job, headers={"X-CSRF-Token": csrf})
    assert accepted.status_code == 202
    assert browser.post("/logout", data={"csrf_token": csrf}).status_code == 303
    assert browser.get("/api/v1/jobs").status_code == 401


@pytest.mark.parametrize("headers", [
    {"Sec-Fetch-Site": "cross-site"},
    {"Sec-Fetch-Site": "same-site"},
    {"Origin": "http://attacker.example"},
])
@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data",
                                          "application/json"])
def test_cross_site_requests_are_refused_whatever_the_content_type(app, default_user, train_job, headers,
                                                                     content_type):
    browser, csrf, _ = logged_in(app, default_user.token)
    response = browser.post(f"/api/v1/jobs/{train_job['id']}/cancel", data="{}", content_type=content_type,
                            headers={**headers, "X-CSRF-Token": csrf})
    assert response.status_code == 403 and response.json["type"] == "urn:convforge:problem:cross-site"
    assert browser.get(f"/api/v1/jobs/{train_job['id']}").json["status"] == "queued"


def test_security_headers_on_pages_api_and_errors(client, anonymous_client):
    for response in (client.get("/"), client.get("/api/v1/jobs"), anonymous_client.get("/api/v1/jobs"),
                     anonymous_client.get("/login")):
        policy = response.headers["Content-Security-Policy"]
        assert "script-src 'self'" in policy and "unsafe-inline" not in policy.split("script-src")[1].split(";")[0]
        assert "frame-ancestors 'none'" in policy
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] == "same-origin"
        assert "Access-Control-Allow-Origin" not in response.headers  # CORS is off


def test_pages_have_no_inline_script(client):
    for path in ("/", "/jobs/1", "/compare", "/new", "/login"):
        html = client.get(path).get_data(as_text=True)
        for tag in re.findall(r"<script[^>]*>", html):
            assert "src=" in tag or 'type="application/json"' in tag, f"{path}: inline script {tag}"
        assert not re.search(r"\son[a-z]+=", html), f"{path}: inline event handler"


def test_host_header_outside_the_allow_list_is_refused(client):
    assert client.get("/api/v1/jobs", headers={"Host": "attacker.example"}).status_code == 400
    assert client.get("/api/v1/health", headers={"Host": "attacker.example:8000"}).status_code == 400
    assert client.get("/api/v1/jobs", headers={"Host": "127.0.0.1:8000"}).status_code == 200
    assert client.get("/api/v1/jobs", headers={"Host": "[::1]:8000"}).status_code == 200


def test_allowed_hosts_come_from_the_environment(env, settings, monkeypatch):
    monkeypatch.setenv("CONVFORGE_ALLOWED_HOSTS", "convforge.example, api.internal")
    configured = load_settings()
    assert configured.allowed_hosts == ("convforge.example", "api.internal")
    response = create_app(configured).test_client().get("/api/v1/health", headers={"Host": "localhost"})
    assert response.status_code == 400 and "CONVFORGE_ALLOWED_HOSTS" in response.json["detail"]
    monkeypatch.delenv("CONVFORGE_ALLOWED_HOSTS")
    monkeypatch.setenv("CONVFORGE_API_BIND", "10.1.2.3:8000")
    assert "10.1.2.3" in load_settings().allowed_hosts
