"""In Chromium: a page from another site, visited by a logged-in user, tries to cancel their job and to
upload a dataset (form posts in every encoding, no-cors fetches) and to read their jobs (an image, a
fetch); nothing happens. The one-time login link works once."""
from __future__ import annotations

import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterator

import pytest
from playwright.sync_api import expect

from shared.accounts import find_user, issue_token
from shared.db.session import session_scope
from tests.browser.conftest import log_in

pytestmark = [pytest.mark.e2e, pytest.mark.slow]



@contextmanager
def attacker_site(html: str) -> Iterator[str]:
    """Another site on this machine: http://localhost:PORT is not the same site as http://127.0.0.1:PORT."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            body = html.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://localhost:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def attack_page(base: str, job_id: int) -> str:
    cancel = f"{base}/api/v1/jobs/{job_id}/cancel"
    datasets = f"{base}/api/v1/datasets"
    # The attacker's own page: its inline script is its business, our CSP does not cover it.
    return f"""<!doctype html><html><body>
<iframe name="sink"></iframe>
<form id="plain" method="post" action="{cancel}" enctype="text/plain" target="sink">
  <input name='{{"x":"' value='"}}'></form>
<form id="urlencoded" method="post" action="{cancel}" target="sink"><input name="a" value="b"></form>
<form id="multipart" method="post" action="{datasets}" enctype="multipart/form-data" target="sink">
  <input name="name" value="planted"></form>
<img id="image" src="{base}/api/v1/jobs">
<script>
window.results = {{}};
async function attempt(request) {{
  try {{ await request(); }} catch (error) {{ window.results.errors = (window.results.errors || 0) + 1; }}
}}
async function attack() {{
  for (const id of ["plain", "urlencoded", "multipart"]) document.getElementById(id).submit();
  const upload = new FormData();
  upload.append("file", new Blob([new Uint8Array(64)]), "planted.npz");
  await attempt(() => fetch("{datasets}", {{method: "POST", body: upload, mode: "no-cors", credentials: "include"}}));
  await attempt(() => fetch("{cancel}", {{method: "POST", body: "{{}}", mode: "no-cors", credentials: "include",
                                         headers: {{"Content-Type": "text/plain"}}}}));
  try {{
    const read = await fetch("{base}/api/v1/jobs", {{credentials: "include"}});
    window.results.read = await read.text();
  }} catch (error) {{
    window.results.read = "blocked";
  }}
  window.results.done = true;
}}
attack();
</script></body></html>"""


def test_another_site_can_neither_change_nor_read_anything(page, stack, small_fashion_mnist):
    with open(small_fashion_mnist, "rb") as upload:
        dataset = stack.session.post(f"{stack.base_url}/api/v1/datasets", files={"file": upload}).json()
    network = stack.session.post(f"{stack.base_url}/api/v1/networks", json={
        "name": "victim", "input_shape": [1, 28, 28],
        "layers": [{"type": "flatten"}, {"type": "dense", "units": 10}]}).json()
    job = stack.session.post(f"{stack.base_url}/api/v1/jobs", json={
        "kind": "train", "network_id": network["id"], "dataset_id": dataset["id"],
        "params": {"epochs": 200, "batch_size": 8}}).json()
    datasets_before = stack.session.get(f"{stack.base_url}/api/v1/datasets").json()["items"]

    answers: list[tuple[str, str, int]] = []
    page.on("response", lambda response: answers.append(
        (response.request.method, response.url, response.status)) if "/api/v1/" in response.url else None)
    with attacker_site(attack_page(stack.base_url, job["id"])) as attacker:
        page.goto(f"{attacker}/prize.html")
        page.wait_for_function("() => window.results && window.results.done", timeout=30_000)
        page.wait_for_timeout(1000)  # the form posts into the iframe

    assert page.evaluate("() => window.results.read") == "blocked"  # no CORS: the answer is unreadable
    now = stack.session.get(f"{stack.base_url}/api/v1/jobs/{job['id']}").json()
    assert now["status"] in ("queued", "running") and now["cancel_requested"] is False
    assert now["cancelled_by"] is None
    assert stack.session.get(f"{stack.base_url}/api/v1/datasets").json()["items"] == datasets_before
    posts = [(url, status) for method, url, status in answers if method == "POST"]
    assert posts and all(status == 403 for _, status in posts), answers
    stack.session.post(f"{stack.base_url}/api/v1/jobs/{job['id']}/cancel")  # free the worker


def test_one_time_login_link_works_once(browser, stack):
    with session_scope(stack.database_url) as session:
        _, code = issue_token(session, find_user(session, "tester"), "dashboard link", kind="login")
    link = f"{stack.base_url}/login?code={code}"
    first = browser.new_context(base_url=stack.base_url)
    tab = first.new_page()
    tab.goto(link)
    expect(tab).to_have_url(f"{stack.base_url}/")
    expect(tab.locator("#current-user")).to_have_text("tester")
    cookie = next(c for c in first.cookies() if c["name"] == "convforge_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
    first.close()

    second = browser.new_context(base_url=stack.base_url)
    tab = second.new_page()
    tab.goto(link)
    expect(tab.locator(".error")).to_contain_text("used or has expired")
    log_in(tab, stack)  # a pasted token still works
    expect(tab.locator("#current-user")).to_have_text("tester")
    tab.get_by_role("button", name="Log out").click()
    expect(tab).to_have_url(f"{stack.base_url}/login")
    tab.goto("/")
    expect(tab).to_have_url(f"{stack.base_url}/login?next=/")
    second.close()
