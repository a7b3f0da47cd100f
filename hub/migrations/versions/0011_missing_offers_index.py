"""offers missing from a complete feed: a partial index, so that an unchanged
harvest finds them (usually none) without reading every offer of its source

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

MISSING = sa.text("missing_runs > 0")


def upgrade() -> None:
    op.create_index(
        "ix_offers_missing",
        "offers",
        ["source_id", "status"],
        sqlite_where=MISSING,
        postgresql_where=MISSING,
    )


def downgrade() -> None:
    op.drop_index("ix_offers_missing", table_name="offers")
