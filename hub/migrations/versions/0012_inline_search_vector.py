"""the search vector kept in the offer's row on PostgreSQL (STORAGE MAIN)

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-28
"""

from __future__ import annotations

from alembic import op

from hub.search_ddl import PG_COLUMN

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

# Issue 8: a search tests the vector of every offer it walks, of every candidate of a
# phrase, and ranks the window's. Out of line (migration 0010 sent it to TOAST with
# the bodies) each vector costs a TOAST index lookup and a chunk read: 5.3 µs per
# vector walked at 100k offers, against 1.4 µs compressed in the row (bench/README.md).
# The bodies stay out of line (toast_tuple_target 256); a row grows from ~360 bytes to
# ~1.3 kB. Rows written before this migration keep their vector out of line until
# rewritten: once, `VACUUM FULL offers` (docs/production.md).


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"ALTER TABLE offers ALTER COLUMN {PG_COLUMN} SET STORAGE MAIN")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"ALTER TABLE offers ALTER COLUMN {PG_COLUMN} SET STORAGE EXTENDED")
