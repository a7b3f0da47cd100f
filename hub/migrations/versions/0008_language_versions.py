"""language versions: for which site languages an offer stands for its group

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A column with a constant default: SQLite adds it in place, 1M rows or not.
    with op.batch_alter_table("offers", recreate="never") as batch:
        batch.add_column(
            sa.Column(
                "shown_in", sa.String(40), nullable=False, server_default="|pl|lt|en|"
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("offers", recreate="never") as batch:
        batch.drop_column("shown_in")
