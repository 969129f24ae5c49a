"""pytest fixtures for real services. Use them from a conftest.py:

    from tests.support.fixtures import postgres_database_url, postgres_server_url, redis_url, s3  # noqa: F401

and `env`, the environment of an API with nothing shared: a temp SQLite file and artifact store.
"""
from __future__ import annotations

from typing import Iterator

import pytest

from tests.support.postgres import create_database, postgres_available, postgres_server
from tests.support.redis import redis_binary, redis_server
from tests.support.s3 import S3Server, moto_binary, s3_server, use_s3
from tests.support.services import free_port, require_or_skip


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    """One throwaway PostgreSQL cluster for the whole test run; the URL of its `convforge` database."""
    if not postgres_available():
        require_or_skip("PostgreSQL server binaries (/usr/lib/postgresql/15/bin) are not installed")
    with postgres_server() as url:
        yield url


@pytest.fixture
def postgres_database_url(postgres_server_url: str) -> str:
    """A new, empty database on the shared cluster, for one test."""
    return create_database(postgres_server_url)


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A throwaway Redis server for the whole test run (no persistence); flush it if a test needs it empty."""
    if redis_binary() is None:
        require_or_skip("redis-server is not installed")
    with redis_server() as url:
        yield url


@pytest.fixture(scope="session")
def s3() -> Iterator[S3Server]:
    """One moto S3 server for the whole test run; give each test its own bucket (tests.support.s3.use_s3)."""
    if moto_binary() is None:
        require_or_skip("moto_server is not installed (moto[server] in requirements-dev.txt)")
    with s3_server() as server:
        yield server


@pytest.fixture
def env(tmp_path, monkeypatch):
    """Settings pointing at a temp SQLite file and artifact store; returns the monkeypatch to add more."""
    monkeypatch.setenv("CONVFORGE_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'var' / 'convforge.db'}")
    monkeypatch.setenv("ARTIFACT_DIR", str(tmp_path / "artifacts"))
    # Nothing listens here: a test that reaches the broker by mistake fails fast.
    monkeypatch.setenv("REDIS_URL", f"redis://127.0.0.1:{free_port()}/0")
    # Rate limits counted in the process (tests/api/test_quotas.py counts them in a real Redis).
    monkeypatch.setenv("CONVFORGE_RATELIMIT_STORAGE_URL", "memory://")
    return monkeypatch


@pytest.fixture
def s3_settings(env, s3):
    """Settings of a migrated temp database whose artifacts live in a bucket of the moto server, with
    store calls retried for one second only."""
    from shared.config import load_settings
    from shared.db.migrate import upgrade_to_head

    use_s3(env, s3, STORE_RETRY_SECONDS="1")
    loaded = load_settings()
    upgrade_to_head(loaded.database_url)
    return loaded
