"""A throwaway Redis server for tests: `redis-server` on a free port, no persistence, removed after.

    with redis_server() as url:     # redis://127.0.0.1:PORT/0
        ...
"""
from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import redis

from tests.support.services import free_port


class RedisUnavailable(RuntimeError):
    pass


def redis_binary() -> str | None:
    return shutil.which("redis-server")


@contextmanager
def redis_server(timeout: float = 20.0) -> Iterator[str]:
    binary = redis_binary()
    if binary is None:
        raise RedisUnavailable("redis-server is not on the PATH")
    folder = Path(tempfile.mkdtemp(prefix="convforge-redis-"))
    port = free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(folder), "--save", "",
         "--appendonly", "no", "--daemonize", "no", "--logfile", str(folder / "redis.log")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    try:
        _wait_until_answering(url, process, timeout)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(folder, ignore_errors=True)


def _wait_until_answering(url: str, process: subprocess.Popen, timeout: float) -> None:
    client = redis.Redis.from_url(url, socket_connect_timeout=0.5)
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                client.ping()
                return
            except redis.RedisError:
                if process.poll() is not None:
                    raise RedisUnavailable(f"redis-server exited with code {process.returncode}") from None
                if time.monotonic() > deadline:
                    raise RedisUnavailable(f"redis-server did not answer within {timeout} s") from None
                time.sleep(0.05)
    finally:
        client.close()
