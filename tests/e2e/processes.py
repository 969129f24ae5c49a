"""Real services for end-to-end tests, started as the deployment starts them (`convforge worker`,
`convforge api` under gunicorn, `redis-server`), each in its own process group, and all killed at the end
even when the test fails."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import psutil
import redis
import requests

from services.cli.processes import ChildProcess
from tests.support.accounts import DEFAULT_USER
from tests.support.services import free_port, require_or_skip

CONVFORGE = [sys.executable, "-m", "services.cli.main"]
REPO = Path(__file__).resolve().parents[2]
# API base URL -> the token of that stack's default user; tests.e2e.api.Client sends it.
STACK_TOKENS: dict[str, str] = {}


def wait_for(condition, timeout: float, what: str, interval: float = 0.2):
    """Poll `condition` until it returns something truthy; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def redis_server_or_skip() -> str:
    binary = shutil.which("redis-server")
    if binary is None:
        require_or_skip("redis-server is not installed")
    return binary


class Services:
    def __init__(self, root: Path, env: dict[str, str]):
        self.root = root
        self.env = {**os.environ, **env, "PYTHONUNBUFFERED": "1"}
        self.children: list[ChildProcess] = []
        self.api_url: str | None = None
        self.token: str | None = None

    def start(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> ChildProcess:
        child = ChildProcess(name, argv, {**self.env, **(env or {})},
                             self.root / "log" / f"{name}-{len(self.children)}.log")
        child.start()
        self.children.append(child)
        return child

    def start_redis(self, password: str | None = None) -> str:
        """redis-server; with a password as docker-compose runs it (`--requirepass`)."""
        port = free_port()
        data_dir = self.root / "redis"
        data_dir.mkdir(parents=True, exist_ok=True)
        auth = ["--requirepass", password] if password else []
        self.redis = self.start("redis", [redis_server_or_skip(), "--port", str(port), "--bind", "127.0.0.1",
                                          "--dir", str(data_dir), "--appendonly", "yes", "--save", "", *auth])
        url = f"redis://{f':{password}@' if password else ''}127.0.0.1:{port}/0"
        self.env["REDIS_URL"] = url
        wait_for(lambda: _pings(url), 30, "redis-server to answer")
        return url

    def restart_redis(self) -> None:
        """Stop Redis as an operator would (SIGTERM: it writes its append-only file) and start it again
        on the same port and data folder."""
        self.redis.stop(grace_seconds=30)
        self.redis = self.start("redis", self.redis.argv)
        wait_for(lambda: _pings(self.env["REDIS_URL"]), 30, "redis-server to answer after the restart")

    def migrate(self) -> None:
        """`convforge migrate`, then the stack's default user: an admin whose token every request of
        tests.e2e.api.Client and every `convforge` command started here carries (CONVFORGE_TOKEN)."""
        child = self.start("migrate", CONVFORGE + ["migrate"])
        assert child.process.wait(timeout=120) == 0, child.log_tail()
        self.token = default_token(self.env["DATABASE_URL"])
        self.env["CONVFORGE_TOKEN"] = self.token

    def start_api(self) -> str:
        port = free_port()
        self.env["CONVFORGE_API_BIND"] = f"127.0.0.1:{port}"
        self.api_url = f"http://127.0.0.1:{port}"
        self.env["CONVFORGE_API_URL"] = self.api_url
        api = self.start("api", CONVFORGE + ["api"])
        wait_for(lambda: self._healthy(api), 60, "the API's /health to answer 200")
        if self.token:
            STACK_TOKENS[self.api_url] = self.token
        return self.api_url

    def start_worker(self, name: str, env: dict[str, str] | None = None) -> ChildProcess:
        """`env`: variables of this worker only (its own cache folder, metrics port...)."""
        worker = self.start(f"worker-{name}", CONVFORGE + ["worker", "--name", f"{name}@%h"], env)
        # Celery logs "<name>@<host> ready." once it consumes. (A ping would go unanswered while the
        # solo pool runs a job, and a fresh worker may take one at once.)
        wait_for(lambda: self._worker_ready(worker, name), 90, f"worker {name} to be ready")
        return worker

    def _healthy(self, api: ChildProcess) -> bool:
        assert api.running, f"the API exited:\n{api.log_tail()}"
        try:
            return requests.get(f"{self.api_url}/api/v1/health", timeout=5).status_code == 200
        except requests.RequestException:
            return False

    def _worker_ready(self, worker: ChildProcess, name: str) -> bool:
        assert worker.running, f"worker {name} exited:\n{worker.log_tail()}"
        return f"{name}@" in worker.log_tail(200) and " ready." in worker.log_tail(200)

    def close(self) -> None:
        for child in reversed(self.children):
            child.stop(grace_seconds=10)


def default_token(database_url: str, name: str = DEFAULT_USER) -> str:
    """A new token for the admin `name` (made if missing) in the stack's database."""
    from sqlalchemy.orm import Session

    from shared.accounts import create_user, find_user, issue_token
    from shared.db.session import make_engine

    engine = make_engine(database_url)
    try:
        with Session(engine) as session:
            user = find_user(session, name) or create_user(session, name, "admin")
            _, secret = issue_token(session, user, "tests")
            session.commit()
            return secret
    finally:
        engine.dispose()


def _pings(url: str) -> bool:
    client = redis.Redis.from_url(url, socket_connect_timeout=1)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


def descendants_alive(pids: list[int]) -> list[int]:
    return [pid for pid in pids if psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE]


@contextmanager
def convforge_up(tmp_path: Path, **env: str):
    """`convforge up` as `make run` starts it (embedded Redis, one worker, the API), its console in
    tmp_path/up.log; yields (the process, the API's URL, its var folder, the pids it started). Stopped
    with Ctrl-C at the end, and whatever it started is killed should that fail."""
    port = free_port()
    environment = {key: value for key, value in os.environ.items()
                   if key not in ("REDIS_URL", "DATABASE_URL", "ARTIFACT_DIR", "CONVFORGE_API_URL")}
    environment.update(CONVFORGE_VAR_DIR=str(tmp_path / "var"), CONVFORGE_API_BIND=f"127.0.0.1:{port}",
                       CONVFORGE_REDIS_PORT=str(free_port()), PYTHONUNBUFFERED="1", **env)
    log = open(tmp_path / "up.log", "wb")
    up = subprocess.Popen(CONVFORGE + ["up"], env=environment, stdout=log, stderr=subprocess.STDOUT,
                          start_new_session=True)
    api_url = f"http://127.0.0.1:{port}"
    started: list[int] = []
    try:
        wait_for(lambda: _up_is_healthy(api_url, up), 120, "convforge up to be healthy with a worker")
        started = [child.pid for child in psutil.Process(up.pid).children(recursive=True)]
        # `convforge up` kept the admin's token under var/ on its first start; the tests' Client uses it.
        STACK_TOKENS[api_url] = json.loads((tmp_path / "var" / "credentials.json").read_text())["token"]
        yield up, api_url, tmp_path / "var", started
    finally:
        # Also whatever was started later (a restarted child).
        started_since = [child.pid for child in _children_of(up.pid)]
        if up.poll() is None:
            up.send_signal(signal.SIGINT)
            try:
                up.wait(timeout=90)
            except subprocess.TimeoutExpired:
                up.kill()
        for pid in descendants_alive(list(set(started) | set(started_since))):
            os.killpg(pid, signal.SIGKILL) if pid == os.getpgid(pid) else os.kill(pid, signal.SIGKILL)
        log.close()
        print((tmp_path / "up.log").read_text(errors="replace")[-3000:])


def _up_is_healthy(api_url: str, up: subprocess.Popen) -> bool:
    assert up.poll() is None, "convforge up exited during start-up"
    try:
        response = requests.get(f"{api_url}/api/v1/health", timeout=5)
        return response.status_code == 200 and bool(response.json()["workers"])
    except requests.RequestException:
        return False


def _children_of(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
