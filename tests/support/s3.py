"""A real S3-compatible server for tests: moto's standalone server (`moto_server`) on a free port, as a
process, with a bucket created. Its state is in memory: stopping it loses every object.

    with s3_server() as s3:     # s3.env: ARTIFACT_URL and the AWS_* variables boto3 reads
        ...
"""
from __future__ import annotations

import shutil
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import requests

from tests.support.services import free_port

BUCKET = "convforge-test"


class S3Unavailable(RuntimeError):
    pass


def moto_binary() -> str | None:
    beside_python = Path(sys.executable).parent / "moto_server"
    return str(beside_python) if beside_python.exists() else shutil.which("moto_server")


@dataclass
class S3Server:
    port: int
    process: subprocess.Popen | None = None
    env: dict[str, str] = field(default_factory=dict)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.process = subprocess.Popen([moto_binary(), "-H", "127.0.0.1", "-p", str(self.port)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while not self._answers():
            if self.process.poll() is not None:
                raise S3Unavailable(f"moto_server exited with code {self.process.returncode}")
            if time.monotonic() > deadline:
                raise S3Unavailable("moto_server did not answer within 30 s")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def _answers(self) -> bool:
        try:
            return requests.get(f"{self.endpoint}/moto-api/", timeout=1).status_code < 500
        except requests.RequestException:
            return False

    def client(self):
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1",
                            aws_access_key_id="test", aws_secret_access_key="test")

    def new_bucket_url(self) -> str:
        """A fresh bucket (and prefix) for one test: tests sharing the server never see each other's objects."""
        bucket = f"{BUCKET}-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=bucket)
        return f"s3://{bucket}/artifacts"


@contextmanager
def s3_server() -> Iterator[S3Server]:
    if moto_binary() is None:
        raise S3Unavailable("moto_server is not installed (pip install -r requirements-dev.txt)")
    server = S3Server(free_port())
    server.env = {"AWS_ENDPOINT_URL": server.endpoint, "AWS_REGION": "us-east-1",
                  "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}
    server.start()
    try:
        yield server
    finally:
        server.stop()


def use_s3(monkeypatch, server: S3Server, **extra: str) -> str:
    """Point this test's settings at a fresh bucket on `server`; returns its ARTIFACT_URL."""
    url = server.new_bucket_url()
    for name, value in {**server.env, "ARTIFACT_URL": url, **extra}.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    return url
