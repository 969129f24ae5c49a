"""`convforge users` / `convforge tokens` on the database, and the local admin `convforge up` makes."""
from __future__ import annotations

import json
import stat

from services.cli.credentials import credentials_path, ensure_local_admin, local_token, login_link
from services.cli.main import main
from services.cli.rest import ApiClient


def cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out.strip(), captured.err.strip()


def test_users_add_prints_a_working_token_and_revoke_ends_it(app, settings, capsys, client_for):
    code, token, message = cli(capsys, "users", "add", "bob")
    assert code == 0 and token.startswith("cf_") and "bob (user)" in message
    bob = client_for(token)
    assert bob.get("/api/v1/networks").status_code == 200

    code, listed, _ = cli(capsys, "tokens", "list", "--user", "bob")
    [row] = [json.loads(line) for line in listed.splitlines()]
    assert row["name"] == "first" and row["state"] == "no expiry" and token.startswith(row["prefix"])

    assert cli(capsys, "tokens", "revoke", str(row["id"]))[0] == 0
    assert bob.get("/api/v1/networks").status_code == 401


def test_tokens_create_with_expiry_and_admin_role(app, settings, capsys, client_for):
    assert cli(capsys, "users", "add", "root", "--admin")[0] == 0
    code, token, _ = cli(capsys, "tokens", "create", "--user", "root", "--name", "ci", "--expires-days", "7")
    assert code == 0 and client_for(token).get("/api/v1/jobs").status_code == 200
    _, listed, _ = cli(capsys, "tokens", "list", "--user", "root")
    assert [json.loads(line)["state"].split()[0] for line in listed.splitlines()] == ["no", "expires"]
    assert "admin" in cli(capsys, "users", "list")[1]


def test_bad_names_and_duplicates_are_refused(settings, capsys):
    assert cli(capsys, "users", "add", "bob")[0] == 0
    code, _, message = cli(capsys, "users", "add", "bob")
    assert code == 1 and "already exists" in message
    code, _, message = cli(capsys, "users", "add", "no spaces")
    assert code == 1 and "letters, digits" in message
    code, _, message = cli(capsys, "tokens", "create", "--user", "nobody")
    assert code == 1 and "no user named 'nobody'" in message


def test_first_start_makes_an_admin_whose_token_the_cli_uses(app, settings, client_for, monkeypatch):
    monkeypatch.delenv("CONVFORGE_TOKEN", raising=False)
    assert ensure_local_admin(settings) == ("admin", True)
    path = credentials_path(settings)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    token = local_token(settings)
    assert client_for(token).get("/api/v1/jobs").status_code == 200
    assert ensure_local_admin(settings) == ("admin", False)  # the next start keeps it
    assert local_token(settings) == token
    assert ApiClient("http://127.0.0.1:1").session.headers["Authorization"] == f"Bearer {token}"
    monkeypatch.setenv("CONVFORGE_TOKEN", "cf_given")
    assert ApiClient("http://127.0.0.1:1").session.headers["Authorization"] == "Bearer cf_given"


def test_printed_dashboard_link_logs_in_once(app, settings, monkeypatch):
    monkeypatch.delenv("CONVFORGE_TOKEN", raising=False)
    ensure_local_admin(settings)
    link = login_link(settings, "http://localhost")
    assert link.startswith("http://localhost/login?code=cf_")
    browser = app.test_client()
    assert browser.get("/").status_code == 302  # not logged in: to the login page
    first = browser.get(link.removeprefix("http://localhost"))
    assert first.status_code == 302 and first.headers["Location"] == "/"
    cookie = first.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    page = browser.get("/")
    assert page.status_code == 200 and 'id="current-user">admin<' in page.get_data(as_text=True)
    again = app.test_client().get(link.removeprefix("http://localhost"))
    assert again.status_code == 401 and "used or has expired" in again.get_data(as_text=True)


def test_migrate_makes_the_first_admin_from_the_environment(app, settings, capsys, client_for, monkeypatch):
    token = "cf_" + "x" * 40
    monkeypatch.setenv("CONVFORGE_ADMIN_NAME", "ops")
    monkeypatch.setenv("CONVFORGE_ADMIN_TOKEN", token)
    code, out, _ = cli(capsys, "migrate")
    assert code == 0 and "admin 'ops': made" in out
    assert client_for(token).get("/api/v1/jobs").status_code == 200
    code, out, _ = cli(capsys, "migrate")  # the migrate service runs at every `docker-compose up`
    assert code == 0 and "already one of their tokens" in out
    assert "ops" in cli(capsys, "users", "list")[1]
    monkeypatch.setenv("CONVFORGE_ADMIN_TOKEN", "short")
    code, _, message = cli(capsys, "migrate")
    assert code == 1 and "at least 32 characters" in message
