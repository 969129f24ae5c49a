"""`convforge migrate`, `api`, `worker` (each part alone, as docker-compose runs them) and `up` (all of
them in the foreground, with an embedded Redis when REDIS_URL is unset)."""
from __future__ import annotations

import _thread
import argparse
import os
import shutil
import signal
import socket
import sys
import time

import requests

from services.cli.credentials import admin_from_environment, credentials_path, ensure_local_admin, login_link
from services.cli.demo import run_demo
from services.cli.embedded_redis import RedisNotFound, redis_process, wait_for_redis
from services.cli.processes import ChildProcess
from services.api.metrics import MULTIPROC_VARIABLE
from services.cli.rest import ApiClient, ApiError
from services.cli.supervisor import Supervisor
from shared.config import DEFAULT_API_BIND, Settings, load_settings
from shared.queue import JOB_QUEUE

STARTUP_SECONDS = 120
# A worker stopping checkpoints its job first; a step rarely takes long, a checkpoint of a big net may.
WORKER_STOP_SECONDS = 60


class StackError(Exception):
    pass


def add_arguments(command: str, parser: argparse.ArgumentParser) -> None:
    if command == "up":
        parser.add_argument("--demo", action="store_true",
                            help="once up, train LeNet-5 on the bundled Fashion-MNIST subset over the REST API")
        parser.add_argument("--demo-epochs", type=int, default=3)
    elif command == "api":
        parser.add_argument("--bind", help=f"host:port (default CONVFORGE_API_BIND or {DEFAULT_API_BIND})")
    elif command == "worker":
        parser.add_argument("--name", help="the worker's node name (default convforge<pid>@<host>)")
        parser.add_argument("--loglevel", default="INFO")


def run(command: str, args: argparse.Namespace) -> int:
    try:
        settings = load_settings()
        if command == "migrate":
            return migrate(settings)
        if command == "api":
            os.environ.update(api_environment(settings))
            os.execv(sys.executable, api_command(args.bind or settings.api_bind))
        if command == "worker":
            os.execv(sys.executable, worker_command(args.name, args.loglevel))
        return up(settings, args.demo, args.demo_epochs)
    except (StackError, ApiError, RedisNotFound, ValueError) as exc:
        print(f"convforge {command}: {exc}", file=sys.stderr)
        return 1


def api_command(bind: str) -> list[str]:
    # gthread: uploads and dashboard polls do not block each other. GUNICORN_CMD_ARGS overrides these.
    return [sys.executable, "-m", "gunicorn", "--config", "python:services.api.gunicorn_config", "--bind", bind,
            "--workers", "2", "--worker-class", "gthread", "--threads", "4", "--timeout", "600",
            "--access-logfile", "-", "services.api.wsgi:app"]


def api_environment(settings: Settings) -> dict[str, str]:
    """The API's gunicorn processes share their metrics through a folder, emptied here: samples of an
    earlier run must not count."""
    folder = settings.var_dir / "prometheus-api"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return {MULTIPROC_VARIABLE: str(folder)}


def worker_command(name: str | None, loglevel: str = "INFO") -> list[str]:
    # --pool=solo: one job per worker process, run in the main process, which may start the data-parallel
    # trainer's processes (prefork children are daemonic and cannot; celery issue 1709). Scale by running
    # more workers. Gossip and mingle only slow the start-up of a worker that needs neither.
    return [sys.executable, "-m", "celery", "-A", "worker.celery_app", "worker", "--pool=solo",
            "--concurrency=1", "-Q", JOB_QUEUE, "--loglevel", loglevel, "-n", name or f"convforge{os.getpid()}@%h",
            "--without-gossip", "--without-mingle"]


def migrate(settings: Settings) -> int:
    from shared.db.migrate import upgrade_to_head

    upgrade_to_head(settings.database_url)
    print(f"database schema is up to date ({_safe_url(settings.database_url)})")
    admin = admin_from_environment(settings)
    if admin:
        print(admin)
    return 0


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


# -- convforge up ---------------------------------------------------------------------------------


def up(settings: Settings, demo: bool, demo_epochs: int) -> int:
    bind = settings.api_bind
    host, _, port = bind.rpartition(":")
    api_url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '') else host}:{port}"
    _require_free_port(host or "127.0.0.1", int(port), "the API (set CONVFORGE_API_BIND)")
    migrate(settings)
    admin, made = ensure_local_admin(settings)
    if made:
        print(f"first start: made the admin {admin!r} and a token in {credentials_path(settings)} "
              "(the CLI on this machine uses it)")
    env = {**os.environ, "CONVFORGE_API_BIND": bind, "CONVFORGE_API_URL": api_url,
           "CONVFORGE_VAR_DIR": str(settings.var_dir), "DATABASE_URL": settings.database_url,
           "ARTIFACT_DIR": str(settings.artifact_dir)}
    children: list[ChildProcess] = []
    supervisor: Supervisor | None = None
    stopping = _install_stop_handlers()
    log_dir = settings.var_dir / "log"
    try:
        if settings.redis_url is None:
            _require_free_port("127.0.0.1", settings.embedded_redis_port, "the embedded Redis (set CONVFORGE_REDIS_PORT)")
            redis = redis_process(settings.var_dir, settings.embedded_redis_port, env)
            children.append(redis)
            redis.start()
            wait_for_redis(settings.broker_url, redis)
            env["REDIS_URL"] = settings.broker_url
            print(f"redis: embedded at {settings.broker_url}, data in {settings.var_dir / 'redis'}")
        worker = ChildProcess("worker", worker_command(None), env, log_dir / "worker.log")
        api = ChildProcess("api", api_command(bind), {**env, **api_environment(settings)}, log_dir / "api.log")
        children += [worker, api]
        worker.start()
        api.start()
        # From here on a child that exits is started again; giving up on one interrupts whatever `up`
        # is doing (start-up, the demo, serving) as a Ctrl-C would, and stops everything.
        supervisor = Supervisor(children, on_give_up=lambda _failure: _thread.interrupt_main())
        supervisor.start()
        _wait_until_healthy(api_url)
        print(f"api: {api_url}/api/v1 (OpenAPI at /api/v1/openapi.json); logs in {log_dir}")
        if demo:
            run_demo(ApiClient(api_url), demo_epochs)
        print(f"\nconvforge is up: dashboard {login_link(settings, api_url)}  API {api_url}/api/v1  "
              "(Ctrl-C stops everything)", flush=True)
        # A timed wait, so an interruption from the supervisor thread is seen within the second.
        while not stopping.wait(1.0):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        if supervisor is not None:
            supervisor.stop()
        _stop_all(children)
    if supervisor is not None and supervisor.failure is not None:
        raise StackError(str(supervisor.failure))
    return 0


def _install_stop_handlers():
    import threading

    stopping = threading.Event()

    def on_signal(signum, _frame):
        if stopping.is_set():
            return
        stopping.set()
        # Interrupt whatever `up` is waiting on (the demo's progress bar, a health poll).
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    return stopping


def _stop_all(children: list[ChildProcess]) -> None:
    """The API first (no new jobs), then the worker (it checkpoints and requeues its job), Redis last so
    the requeued message reaches its append-only file."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    order = {"api": 0, "worker": 1, "redis": 2}
    for child in sorted(children, key=lambda c: order[c.name]):
        if child.process is not None:
            print(f"stopping {child.name} ...", file=sys.stderr, flush=True)
            child.stop(WORKER_STOP_SECONDS if child.name == "worker" else 15)


def _require_free_port(host: str, port: int, what: str) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        if probe.connect_ex((host, port)) == 0:
            raise StackError(f"port {port} on {host} is already in use; it is needed for {what}. "
                             f"Is another `convforge up` running?")


def _wait_until_healthy(api_url: str) -> None:
    """Until the API answers 200 on /health (database and broker reachable); a child that dies meanwhile
    is the supervisor's. Workers are not waited for: a solo-pool worker busy with a job left from the
    last run answers no pings until that job ends."""
    deadline = time.monotonic() + STARTUP_SECONDS
    last = "no answer yet"
    while time.monotonic() < deadline:
        try:
            response = requests.get(f"{api_url}/api/v1/health", timeout=5)
            health = response.json()
            if response.status_code == 200:
                return
            last = f"HTTP {response.status_code}: {health}"
        except (requests.RequestException, ValueError) as exc:
            last = str(exc)
        time.sleep(0.3)
    raise StackError(f"the stack did not become healthy within {STARTUP_SECONDS}s ({last})")
