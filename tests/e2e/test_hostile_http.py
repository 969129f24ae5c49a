"""Against the real API under gunicorn: a 16 kB URL is answered with a 414 problem document (gunicorn
answers it before the app; it must not be an HTML page), and an upload killed mid-request leaves nothing
once the restarted API has swept."""
from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import time
from urllib.parse import urlsplit

import pytest
import requests

from shared.limits import MAX_REQUEST_LINE_BYTES
from tests.e2e.api import Client
from tests.e2e.processes import wait_for

pytestmark = [pytest.mark.e2e]


@pytest.fixture
def api(services):
    services.start_redis()
    services.migrate()
    return services, services.start_api()


@pytest.mark.parametrize("length", [16_000, MAX_REQUEST_LINE_BYTES + 1])
def test_a_too_long_url_is_a_414_problem_document(api, length):
    _, url = api
    response = requests.get(f"{url}/api/v1/networks?cursor=" + "9" * length, timeout=30)
    assert response.status_code == 414
    assert response.headers["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == 414 and f"at most {MAX_REQUEST_LINE_BYTES} bytes" in body["detail"]


def test_a_long_url_within_the_limit_reaches_the_app(api):
    _, url = api
    cursor = "9" * (MAX_REQUEST_LINE_BYTES - 200)
    response = Client(url).session.get(f"{url}/api/v1/networks?cursor={cursor}", timeout=30)
    assert response.status_code == 400 and response.json()["errors"][0]["loc"] == ["query", "cursor"]


def test_an_unreadable_request_line_is_a_400_problem_document(api):
    _, url = api
    parts = urlsplit(url)
    raw = socket.create_connection((parts.hostname, parts.port), timeout=30)
    raw.sendall(b"NOT A REQUEST\r\n\r\n")
    answer = raw.recv(65536).decode("latin-1")
    raw.close()
    head, _, body = answer.partition("\r\n\r\n")
    assert head.startswith("HTTP/1.1 400") and "Content-Type: application/problem+json" in head
    assert json.loads(body)["status"] == 400


def test_an_upload_killed_mid_request_is_swept_when_the_api_starts_again(services):
    services.env["ARTIFACT_SWEEP_GRACE_SECONDS"] = "1"
    services.start_redis()
    services.migrate()
    parts = urlsplit(services.start_api())
    api = services.children[-1]
    uploads = services.root / "artifacts" / "tmp"

    boundary = "hostile-boundary"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.npz\"\r\n"
            f"Content-Type: application/octet-stream\r\n\r\n").encode()
    declared = len(head) + 64 * 1024 * 1024
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    connection.putrequest("POST", "/api/v1/datasets")
    connection.putheader("Authorization", f"Bearer {services.token}")
    connection.putheader("Content-Type", f"multipart/form-data; boundary={boundary}")
    connection.putheader("Content-Length", str(declared))
    connection.endheaders()
    connection.send(head)
    chunk = b"\0" * (1 << 20)
    for _ in range(8):
        connection.send(chunk)
    # The API is streaming the part to disk when it is killed.
    wait_for(lambda: any(path.is_file() and path.stat().st_size > 0
                         for path in uploads.glob("upload-*/*")), 60, "the upload to reach the disk")
    os.killpg(api.process.pid, signal.SIGKILL)
    api.process.wait(timeout=30)
    connection.close()
    left = list(uploads.glob("upload-*"))
    assert left, "the killed upload should have left its folder (what the sweep is for)"

    time.sleep(1.5)  # past the grace period
    services.start_api()
    wait_for(lambda: not list(uploads.glob("upload-*")), 60, "the restarted API to sweep the upload folder")
