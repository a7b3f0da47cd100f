"""harvest engine: body hash, source health, withdrawal counters, richer runs

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sources") as batch:
        batch.add_column(sa.Column("body_hash", sa.String(64), nullable=True))
        batch.add_column(sa.Column("last_status", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("failing_since", sa.DateTime(timezone=True)))
        batch.add_column(sa.Column("attention", sa.String(500), nullable=True))
        batch.add_column(sa.Column("last_ping_at", sa.DateTime(timezone=True)))
    with op.batch_alter_table("offers") as batch:
        batch.add_column(
            sa.Column("missing_runs", sa.Integer(), nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("missing_since", sa.DateTime(timezone=True)))
        batch.add_column(sa.Column("withdrawn_at", sa.DateTime(timezone=True)))
        batch.create_index("ix_offers_source_status", ["source_id", "status"])
        batch.create_index("ix_offers_valid_through", ["valid_through"])
    with op.batch_alter_table("harvest_runs") as batch:
        batch.add_column(
            sa.Column(
                "items_withdrawn", sa.Integer(), nullable=False, server_default="0"
            )
        )
        batch.add_column(sa.Column("error_class", sa.String(32), nullable=True))
        batch.add_column(sa.Column("warning", sa.Text(), nullable=True))
        batch.add_column(sa.Column("owner", sa.String(200), nullable=True))
        batch.create_index("ix_harvest_runs_status", ["status"])


def downgrade() -> None:
    # ALTER TABLE ... DROP COLUMN (SQLite >= 3.35): recreating a table that others
    # reference would break their foreign keys.
    with op.batch_alter_table("harvest_runs", recreate="never") as batch:
        batch.drop_index("ix_harvest_runs_status")
        for column in ("owner", "warning", "error_class", "items_withdrawn"):
            batch.drop_column(column)
    with op.batch_alter_table("offers", recreate="never") as batch:
        batch.drop_index("ix_offers_valid_through")
        batch.drop_index("ix_offers_source_status")
        for column in ("withdrawn_at", "missing_since", "missing_runs"):
            batch.drop_column(column)
    with op.batch_alter_table("sources", recreate="never") as batch:
        for column in (
            "last_ping_at",
            "attention",
            "failing_since",
            "last_status",
            "body_hash",
        ):
            batch.drop_column(column)
