"""A real stack for the dashboard tests, started as it is deployed (`convforge migrate`, `convforge api`
under gunicorn, `convforge worker`, `redis-server`) with a SQLite database and an artifact store in a
temporary folder; and Debian's Chromium driven by Playwright. Missing binaries skip the tests, or fail
them in CI."""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np
import pytest
import requests

from tests.e2e.processes import Services
from tests.support.services import require_or_skip

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "test-artifacts" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


class Stack:
    """The running services, as the tests reach them. `token` is the default user's (an admin);
    `session` is a requests.Session that sends it, for calls to the REST API outside the browser."""

    def __init__(self, services: Services):
        self.services = services
        self.base_url = services.api_url
        self.token = services.token
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {self.token}"
        # A new connection per request: gunicorn closes an idle kept-alive one after 2 s, and a
        # request sent on it just as it closes was reset (a dataset upload between two tests).
        self.session.headers["Connection"] = "close"
        self.database_url = services.env["DATABASE_URL"]
        self.artifact_dir = Path(services.env["ARTIFACT_DIR"])


# Module scope: the services stop as soon as the browser tests are done, not at the end of the whole run.
@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("stack")
    services = Services(root, {
        "CONVFORGE_VAR_DIR": str(root / "var"),
        "DATABASE_URL": f"sqlite:///{root / 'var' / 'convforge.db'}",
        "ARTIFACT_DIR": str(root / "artifacts"),
    })
    try:
        services.start_redis()
        services.migrate()
        services.start_api()
        services.start_worker("dashboard")
        yield Stack(services)
    finally:
        services.close()


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        require_or_skip(f"Chromium is not installed at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def log_in(tab, stack) -> None:
    """Through the login page, as a person pastes a token: the tab then holds a session cookie."""
    tab.goto("/login")
    tab.fill("#token", stack.token)
    tab.click("button[type=submit]")
    tab.wait_for_url(stack.base_url + "/")


@pytest.fixture
def page(browser, stack):
    """A browser tab logged in to the dashboard as the stack's default user."""
    context = browser.new_context(base_url=stack.base_url, viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    log_in(tab, stack)
    yield tab
    context.close()
    assert errors == [], f"JavaScript errors on the page: {errors}"


@pytest.fixture(scope="session")
def small_fashion_mnist(tmp_path_factory) -> Path:
    """A class-balanced slice of the bundled Fashion-MNIST subset: quick to upload and to train on."""
    bundled = np.load(REPO / "data" / "fashion-mnist-small.npz")
    path = tmp_path_factory.mktemp("data") / "fashion-mnist-tiny.npz"
    np.savez(path, x_train=bundled["x_train"][:1200], y_train=bundled["y_train"][:1200],
             x_test=bundled["x_test"][:300], y_test=bundled["y_test"][:300], classes=bundled["classes"])
    return path


def screenshot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    scroll_y = page.evaluate("() => window.scrollY")
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
    # A full-page capture resizes the viewport and Chromium restores the scroll position a moment
    # later, which can move a button between a click's mouse-down and mouse-up: restore it now.
    page.evaluate("(y) => window.scrollTo(0, y)", scroll_y)
