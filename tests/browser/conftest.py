"""A real stack for the dashboard tests: redis-server, a Celery worker (solo pool), the API under
gunicorn, a migrated SQLite database and an artifact store in a temporary folder; and Debian's
Chromium driven by Playwright. Missing binaries skip the tests, or fail them in CI."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest
import requests

from shared.db.migrate import upgrade_to_head
from tests.support.services import free_port, require_or_skip

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "test-artifacts" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
BIN = Path(sys.executable).parent


class Stack:
    def __init__(self, root: Path):
        self.root = root
        self.api_port = free_port()
        self.redis_port = free_port()
        self.base_url = f"http://127.0.0.1:{self.api_port}"
        self.env = {
            **os.environ,
            "CONVFORGE_VAR_DIR": str(root / "var"),
            "DATABASE_URL": f"sqlite:///{root / 'var' / 'convforge.db'}",
            "ARTIFACT_DIR": str(root / "artifacts"),
            "REDIS_URL": f"redis://127.0.0.1:{self.redis_port}/0",
            "CONVFORGE_API_URL": self.base_url,
            "PYTHONUNBUFFERED": "1",
        }
        self.processes: list[tuple[str, subprocess.Popen]] = []

    def start(self) -> None:
        upgrade_to_head(self.env["DATABASE_URL"])
        self._spawn("redis", [shutil.which("redis-server"), "--port", str(self.redis_port), "--bind", "127.0.0.1",
                              "--save", "", "--appendonly", "no", "--dir", str(self.root)])
        self._spawn("worker", [str(BIN / "celery"), "-A", "worker.celery_app", "worker", "--pool=solo",
                               "--loglevel=INFO", "--without-gossip", "--without-mingle"])
        self._spawn("api", [str(BIN / "gunicorn"), "services.api.wsgi:app", "--bind", f"127.0.0.1:{self.api_port}",
                            "--workers", "1", "--threads", "8", "--timeout", "120"])
        self._wait_for_api()

    def _spawn(self, name: str, argv: list[str]) -> None:
        log = open(self.root / f"{name}.log", "wb")
        process = subprocess.Popen(argv, env=self.env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
        self.processes.append((name, process))

    def _wait_for_api(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, process in self.processes:
                if process.poll() is not None:
                    raise RuntimeError(f"{name} exited early:\n{self.log(name)}")
            try:
                if requests.get(self.base_url + "/", timeout=2).status_code == 200:
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"the API did not answer within {timeout:.0f}s:\n{self.log('api')}")

    def log(self, name: str) -> str:
        path = self.root / f"{name}.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def stop(self) -> None:
        for _name, process in reversed(self.processes):
            for signum, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
                try:
                    os.killpg(process.pid, signum)
                    process.wait(timeout=wait)
                    break
                except ProcessLookupError:
                    break
                except subprocess.TimeoutExpired:
                    continue


@pytest.fixture(scope="session")
def stack(tmp_path_factory) -> Iterator[Stack]:
    if not shutil.which("redis-server"):
        require_or_skip("redis-server is not installed")
    running = Stack(tmp_path_factory.mktemp("stack"))
    try:
        running.start()
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        require_or_skip(f"Chromium is not installed at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, stack):
    context = browser.new_context(base_url=stack.base_url, viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
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
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
