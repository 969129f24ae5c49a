"""jobs.lost_attempts: how many times a job's worker vanished while running it.

Revision ID: 0002_hostile
Revises: 0001
Create Date: 2026-12-02 01:50:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_hostile"
down_revision = "0002_auth"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("lost_attempts", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("lost_attempts")
