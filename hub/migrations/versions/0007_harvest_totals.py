"""harvest totals: what pruned harvest runs added up to, for the metrics

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "harvest_totals",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "source_id",
            sa.Integer(),
            sa.ForeignKey("sources.id", name="fk_harvest_totals_source_id_sources"),
            nullable=False,
        ),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error_class", sa.String(32), nullable=False),
        *(
            sa.Column(name, sa.Integer(), nullable=False)
            for name in (
                "runs",
                "items_new",
                "items_updated",
                "items_unchanged",
                "items_withdrawn",
                "items_failed",
            )
        ),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.Column("buckets", sa.JSON(), nullable=False),
        sa.UniqueConstraint(
            "source_id",
            "status",
            "error_class",
            name="uq_harvest_totals_source_id",
        ),
    )
    # pruning selects runs by age
    op.create_index("ix_harvest_runs_started_at", "harvest_runs", ["started_at"])


def downgrade() -> None:
    op.drop_index("ix_harvest_runs_started_at", "harvest_runs")
    op.drop_table("harvest_totals")
