"""Status, time and memory of one API request, measured in a fresh process (so the peak belongs to that
request alone): the growth of the peak RSS (VmHWM, which counts file-backed pages too) and of the peak
anonymous memory (RssAnon, sampled: what the process cannot give back under pressure).

A request is a dict: {"path", "json": bytes} or {"path", "files": {field: (bytes, filename)}, "form"}.
"""
from __future__ import annotations

import io
import json
import os
import pickle
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def memory_kb(field: str) -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith(field + ":"))


def reset_peak_rss() -> int:
    """Start the peak (VmHWM) afresh at the current RSS; the current RSS in kB (Linux)."""
    with open("/proc/self/clear_refs", "w") as clear:
        clear.write("5")
    return memory_kb("VmRSS")


class AnonPeak:
    """Samples RssAnon every few milliseconds while running."""

    def __init__(self, interval: float = 0.002):
        self.interval = interval
        self.peak = memory_kb("RssAnon")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, memory_kb("RssAnon"))
            time.sleep(self.interval)

    def __enter__(self) -> "AnonPeak":
        self._thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, memory_kb("RssAnon"))


def send(client, request: dict):
    if "json" in request:
        return client.post(request["path"], data=request["json"], content_type="application/json")
    data = {field: (io.BytesIO(content), filename) for field, (content, filename) in request["files"].items()}
    return client.post(request["path"], data={**data, **request.get("form", {})},
                       content_type="multipart/form-data")


def _measure_here(request_file: str) -> dict:
    from services.api.app import create_app
    from shared.config import load_settings
    from shared.db.migrate import upgrade_to_head
    from tests.support.accounts import signed_in_client

    settings = load_settings()
    upgrade_to_head(settings.database_url)
    # Signed in as a user made in this process's database, before the measured request.
    client = signed_in_client(create_app(settings))
    client.get("/api/v1/health")
    with open(request_file, "rb") as handle:
        request = pickle.load(handle)
    rss_before, anon_before = reset_peak_rss(), memory_kb("RssAnon")
    start = time.monotonic()
    with AnonPeak() as anon:
        response = send(client, request)
    seconds = time.monotonic() - start
    return {"status": response.status_code, "seconds": round(seconds, 2),
            "peak_rss_mb": round((memory_kb("VmHWM") - rss_before) / 1024),
            "peak_anon_mb": round((anon.peak - anon_before) / 1024),
            "body": response.get_data(as_text=True)[:400]}


def measure(request: dict, env: dict[str, str] | None = None) -> dict:
    """Send `request`, signed in, to a fresh app (temp database and artifact store) in a new process."""
    with tempfile.TemporaryDirectory() as tmp:
        request_file = os.path.join(tmp, "request.pickle")
        with open(request_file, "wb") as handle:
            pickle.dump(request, handle)
        environment = {**os.environ, "PYTHONPATH": str(REPO), "CONVFORGE_VAR_DIR": tmp,
                       "DATABASE_URL": f"sqlite:///{tmp}/db.sqlite", "ARTIFACT_DIR": f"{tmp}/artifacts",
                       "REDIS_URL": "redis://127.0.0.1:1/0", **(env or {})}
        code = ("import json, sys; from tests.hostile.measure import _measure_here; "
                "print('RESULT' + json.dumps(_measure_here(sys.argv[1])))")
        done = subprocess.run([sys.executable, "-c", code, request_file], env=environment, cwd=REPO,
                              capture_output=True, text=True, timeout=900)
        lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT")]
        assert lines, done.stderr[-3000:]
        return json.loads(lines[-1][len("RESULT"):])
