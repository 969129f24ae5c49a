"""Deleted rows leave their artifact-store objects in artifact_removals until they are removed.

Revision ID: 0003_hostile2
Revises: 0002_hostile
Create Date: 2026-12-02 02:20:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_hostile2"
down_revision = "0002_hostile"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "artifact_removals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("prefix", sa.String(length=500), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_artifact_removals"),
    )


def downgrade() -> None:
    op.drop_table("artifact_removals")
