"""narrow offer rows on PostgreSQL: long values stored out of line

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-27
"""

from __future__ import annotations

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

# Issue 8: a search reads the rows of its matches (their status, filters, facet
# columns), never their bodies. With the default target (2 kB) a row keeps ~2 kB of
# compressed body inline and a page holds ~4 rows; at 256 bytes the bodies and the
# search vector go to TOAST and a page holds ~30: a search's GIN bitmap reads 10x
# fewer pages (bench/README.md). Rows written before this migration keep their
# layout until rewritten: once, `VACUUM FULL offers` (docs/production.md).
TOAST_TUPLE_TARGET = 256


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"ALTER TABLE offers SET (toast_tuple_target = {TOAST_TUPLE_TARGET})"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE offers RESET (toast_tuple_target)")
