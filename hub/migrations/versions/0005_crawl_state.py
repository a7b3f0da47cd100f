"""crawl state of multi-page sources: per page, its lastmod and the items it held

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sources", recreate="never") as batch:
        batch.add_column(
            sa.Column("crawl_state", sa.JSON(), nullable=False, server_default="{}")
        )


def downgrade() -> None:
    with op.batch_alter_table("sources", recreate="never") as batch:
        batch.drop_column("crawl_state")
