"""PostgreSQL keeps the search vector a new offer is written with (search_ddl
version 4): the harvest builds it in Python (hub.pg_vector) instead of the trigger
computing it in SQL

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-28
"""

from __future__ import annotations

from alembic import op

from hub import search_ddl

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

# Issue 8: the trigger's vector was 80-90 % of a first harvest's writing time on
# PostgreSQL (bench/README.md). Only its function changes: no offer is indexed again.


def upgrade() -> None:
    search_ddl.replace_trigger_function(op.get_bind(), version=4)


def downgrade() -> None:
    search_ddl.replace_trigger_function(op.get_bind(), version=3)
