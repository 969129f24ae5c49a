"""Migrations are the only way the schema is made: upgrading to head must give exactly the models."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, text

from shared.db.migrate import alembic_config, upgrade_to_head
from shared.db.models import Base

REPO = Path(__file__).resolve().parents[2]


def schema_differences(database_url: str) -> list:
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            return compare_metadata(MigrationContext.configure(connection), Base.metadata)
    finally:
        engine.dispose()


def table_names(database_url: str) -> set[str]:
    engine = create_engine(database_url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_sqlite_upgrade_matches_models(tmp_path):
    url = f"sqlite:///{tmp_path / 'nested' / 'convforge.db'}"
    upgrade_to_head(url)
    assert schema_differences(url) == []
    assert set(Base.metadata.tables) <= table_names(url)


def test_sqlite_downgrade_and_upgrade_again(tmp_path):
    url = f"sqlite:///{tmp_path / 'convforge.db'}"
    upgrade_to_head(url)
    command.downgrade(alembic_config(url), "base")
    assert table_names(url) == {"alembic_version"}
    upgrade_to_head(url)
    assert schema_differences(url) == []


def test_upgrade_twice_is_a_no_op(tmp_path):
    url = f"sqlite:///{tmp_path / 'convforge.db'}"
    upgrade_to_head(url)
    upgrade_to_head(url)
    engine = create_engine(url)
    with engine.connect() as connection:
        versions = connection.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    engine.dispose()
    assert versions == [ScriptDirectory.from_config(alembic_config(url)).get_current_head()]


def test_sqlite_foreign_keys_enforced_after_migration(tmp_path):
    from sqlalchemy.exc import IntegrityError

    from shared.db.session import make_engine

    url = f"sqlite:///{tmp_path / 'convforge.db'}"
    upgrade_to_head(url)
    engine = make_engine(url)
    with pytest.raises(IntegrityError):
        with engine.begin() as connection:
            connection.execute(text(
                "INSERT INTO jobs (kind, status, dataset_id, params, attempt, epoch, epochs, step, steps,"
                " latest_metrics, result, cancel_requested, created_at)"
                " VALUES ('train', 'queued', 999, '{}', 0, 0, 0, 0, 0, '{}', '{}', 0, '2026-01-01')"
            ))
    engine.dispose()


def test_migrate_from_another_directory_reads_database_url(tmp_path):
    url = f"sqlite:///{tmp_path / 'elsewhere.db'}"
    env = {**os.environ, "DATABASE_URL": url, "PYTHONPATH": str(REPO)}
    subprocess.run(
        [sys.executable, "-c", "from shared.db.migrate import upgrade_to_head; upgrade_to_head()"],
        cwd=tmp_path, env=env, check=True, capture_output=True,
    )
    assert "jobs" in table_names(url)


@pytest.mark.e2e
def test_postgresql_upgrade_matches_models(postgres_database_url):
    upgrade_to_head(postgres_database_url)
    assert schema_differences(postgres_database_url) == []
    assert set(Base.metadata.tables) <= table_names(postgres_database_url)


@pytest.mark.e2e
def test_postgresql_downgrade_and_upgrade_again(postgres_database_url):
    upgrade_to_head(postgres_database_url)
    command.downgrade(alembic_config(postgres_database_url), "base")
    assert table_names(postgres_database_url) == {"alembic_version"}
    upgrade_to_head(postgres_database_url)
    assert schema_differences(postgres_database_url) == []
