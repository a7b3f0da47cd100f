"""offer profile fields: sectors, occupations, contact, language group; organisation ids

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Columns and indexes only: SQLite adds them in place, without rebuilding
    # "offers" (whose search triggers a rebuild would break, see hub/search_ddl.py).
    with op.batch_alter_table("offers", recreate="never") as batch:
        for column in ("sectors", "occupations"):
            batch.add_column(
                sa.Column(column, sa.JSON(), nullable=False, server_default="[]")
            )
        batch.add_column(
            sa.Column("contact", sa.JSON(), nullable=False, server_default="{}")
        )
        batch.add_column(sa.Column("group_key", sa.String(500), nullable=True))
        batch.create_index("ix_offers_source_group", ["source_id", "group_key"])
    with op.batch_alter_table("organisations", recreate="never") as batch:
        batch.add_column(
            sa.Column("identifiers", sa.JSON(), nullable=False, server_default="{}")
        )


def downgrade() -> None:
    with op.batch_alter_table("organisations", recreate="never") as batch:
        batch.drop_column("identifiers")
    with op.batch_alter_table("offers", recreate="never") as batch:
        batch.drop_index("ix_offers_source_group")
        for column in ("group_key", "contact", "occupations", "sectors"):
            batch.drop_column(column)
