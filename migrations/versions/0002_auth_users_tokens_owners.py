"""Users, API tokens, and an owner on every network, dataset, model and job.

Rows that exist before this revision are given to an admin named `admin` (created here when there are
such rows and no user yet), so nothing becomes unreachable. That user has no token: `convforge tokens
create admin` (or `convforge up`) makes one.

Revision ID: 0002_auth
Revises: 0001
"""
from __future__ import annotations

from datetime import datetime, timezone

import sqlalchemy as sa
from alembic import op

revision = "0002_auth"
down_revision = "0002_store"
branch_labels = None
depends_on = None

OWNED_TABLES = ("networks", "datasets", "models", "jobs")
EXISTING_ROWS_OWNER = "admin"


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("name", name=op.f("uq_users_name")),
    )
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_api_tokens_user_id_users"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_tokens_token_hash")),
    )
    op.create_index(op.f("ix_api_tokens_user_id"), "api_tokens", ["user_id"])
    for table in OWNED_TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("owner_id", sa.Integer(), nullable=True))
            batch.create_foreign_key(op.f(f"fk_{table}_owner_id_users"), "users", ["owner_id"], ["id"])
            batch.create_index(op.f(f"ix_{table}_owner_id"), ["owner_id"])
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("cancelled_by_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(op.f("fk_jobs_cancelled_by_id_users"), "users", ["cancelled_by_id"], ["id"])
    _give_existing_rows_an_owner()


def _give_existing_rows_an_owner() -> None:
    connection = op.get_bind()
    if not any(connection.execute(sa.text(f"SELECT 1 FROM {table} LIMIT 1")).first()
               for table in OWNED_TABLES):
        return
    users = sa.table("users", sa.column("id", sa.Integer), sa.column("name", sa.String),
                     sa.column("role", sa.String), sa.column("created_at", sa.DateTime(timezone=True)))
    connection.execute(users.insert().values(name=EXISTING_ROWS_OWNER, role="admin",
                                             created_at=datetime.now(timezone.utc)))
    owner = connection.execute(sa.select(users.c.id).where(users.c.name == EXISTING_ROWS_OWNER)).scalar_one()
    for table in OWNED_TABLES:
        connection.execute(sa.text(f"UPDATE {table} SET owner_id = :owner WHERE owner_id IS NULL"),
                           {"owner": owner})


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_constraint(op.f("fk_jobs_cancelled_by_id_users"), type_="foreignkey")
        batch.drop_column("cancelled_by_id")
    for table in OWNED_TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_index(op.f(f"ix_{table}_owner_id"))
            batch.drop_constraint(op.f(f"fk_{table}_owner_id_users"), type_="foreignkey")
            batch.drop_column("owner_id")
    op.drop_index(op.f("ix_api_tokens_user_id"), table_name="api_tokens")
    op.drop_table("api_tokens")
    op.drop_table("users")
