"""Revision 0002_auth: rows stored before users existed are given to an admin, on SQLite and PostgreSQL."""
from __future__ import annotations

import pytest
from alembic import command
from sqlalchemy import create_engine, text

from shared.db.migrate import alembic_config

OWNED_TABLES = ("networks", "datasets", "models", "jobs")


def _upgrade_with_rows_from_0001(url: str) -> dict:
    command.upgrade(alembic_config(url), "0001")
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO networks (id, name, definition, summary, total_params, created_at)"
            " VALUES (1, 'n', '{}', '{}', 1, '2026-01-01')"))
        connection.execute(text(
            "INSERT INTO datasets (id, name, source_format, path, num_samples, num_test_samples, input_shape,"
            " num_classes, class_names, class_counts, channel_mean, channel_std, sha256, size_bytes, created_at)"
            " VALUES (1, 'd', 'npz', 'datasets/d', 3, 0, '[1,8,8]', 2, '[]', '[]', '[]', '[]', 'x', 1, '2026-01-01')"))
        connection.execute(text(
            "INSERT INTO jobs (id, kind, status, network_id, dataset_id, params, attempt, epoch, epochs, step,"
            " steps, latest_metrics, result, cancel_requested, created_at)"
            " VALUES (1, 'train', 'queued', 1, 1, '{}', 0, 0, 0, 0, 0, '{}', '{}', false, '2026-01-01')"))
    command.upgrade(alembic_config(url), "0002_auth")
    with engine.connect() as connection:
        users = connection.execute(text("SELECT id, name, role FROM users")).all()
        owners = {table: connection.execute(text(f"SELECT owner_id FROM {table}")).scalars().all()
                  for table in OWNED_TABLES}
    engine.dispose()
    return {"users": users, "owners": owners}


def _check(found: dict) -> None:
    [(admin_id, name, role)] = found["users"]
    assert (name, role) == ("admin", "admin")
    assert found["owners"] == {"networks": [admin_id], "datasets": [admin_id], "models": [], "jobs": [admin_id]}


def test_sqlite_existing_rows_get_an_admin_owner(tmp_path):
    _check(_upgrade_with_rows_from_0001(f"sqlite:///{tmp_path / 'convforge.db'}"))


def test_empty_database_gets_no_user(tmp_path):
    url = f"sqlite:///{tmp_path / 'convforge.db'}"
    command.upgrade(alembic_config(url), "0002_auth")
    engine = create_engine(url)
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM users")).scalar_one() == 0
    engine.dispose()


@pytest.mark.e2e
def test_postgresql_existing_rows_get_an_admin_owner(postgres_database_url):
    _check(_upgrade_with_rows_from_0001(postgres_database_url))
