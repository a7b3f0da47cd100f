"""filter lexemes in PostgreSQL's search vector: a filtered search asks the GIN
index for its kind, language and country with its words (search_ddl version 3)

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-28
"""

from __future__ import annotations

from alembic import op

from hub import search_ddl

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

# Issue 8: at a million offers, `spawacz` in Polish job offers read ~15,600 heap rows
# across 13 segments to keep the ~1,300 that pass the filters (bench/README.md). The
# vector of every offer is written again: on a large database, run VACUUM FULL offers
# after it (docs/production.md). SQLite's index does not change.


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        search_ddl.rebuild_text_index(op.get_bind(), version=3)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        search_ddl.rebuild_text_index(op.get_bind(), version=2)
