"""pytest fixtures for real services. Use them from a conftest.py:

    from tests.support.fixtures import postgres_server_url, postgres_database_url  # noqa: F401
"""
from __future__ import annotations

from typing import Iterator

import pytest

from tests.support.postgres import create_database, postgres_available, postgres_server
from tests.support.services import require_or_skip


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
