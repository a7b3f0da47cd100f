"""organisation in search: the organisation's name indexed and ranked between the
offer's title and its categories (issue 8: title above organisation above body)

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from hub import search_ddl

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The name as the offer stated it, on the offer row: the text index's triggers
    # read only the row they index (an FTS5 'delete' must repeat the values indexed).
    with op.batch_alter_table("offers", recreate="never") as batch:
        batch.add_column(sa.Column("organisation_name", sa.String(500)))
    op.execute(
        "UPDATE offers SET organisation_name = (SELECT name FROM organisations "
        "WHERE organisations.id = offers.organisation_id) "
        "WHERE organisation_id IS NOT NULL"
    )
    search_ddl.rebuild_text_index(op.get_bind(), version=2)


def downgrade() -> None:
    search_ddl.rebuild_text_index(op.get_bind(), version=1)
    with op.batch_alter_table("offers", recreate="never") as batch:
        batch.drop_column("organisation_name")
