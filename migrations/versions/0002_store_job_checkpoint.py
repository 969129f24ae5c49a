"""Jobs record the artifact-store key of their latest complete checkpoint.

A checkpoint is uploaded first and recorded here after, fenced by the claim, so a worker on any machine
resuming the job reads a complete checkpoint, never one still being written.

Revision ID: 0002_store
Revises: 0001
Create Date: 2026-12-02 01:10:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_store"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("checkpoint_path", sa.String(length=500), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("checkpoint_path")
