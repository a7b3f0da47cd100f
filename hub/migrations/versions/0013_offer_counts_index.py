"""live offers counted per cluster and kind from an index: the home page's cluster
cards and a cluster page's kinds read no offer row

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-28
"""

from __future__ import annotations

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

# Issue 8: the home page counted the live offers of each cluster (one per real offer:
# shown_in) by reading every offer's row: 3.3 s at a million offers on SQLite, 2 s on
# PostgreSQL, each time a worker rendered it; 0.2 s and 0.1 s from this index. Led by
# cluster_id, it replaces the index of cluster_id alone (same writes). Led by status,
# SQLite took it for the newest offers too, and sorted 900,000 of them.
INDEX, COLUMNS = "ix_offers_counts", ["cluster_id", "status", "kind", "shown_in"]
REPLACED = "ix_offers_cluster_id"


def upgrade() -> None:
    op.create_index(INDEX, "offers", COLUMNS)
    op.drop_index(REPLACED, table_name="offers")


def downgrade() -> None:
    op.create_index(REPLACED, "offers", ["cluster_id"])
    op.drop_index(INDEX, table_name="offers")
