"""search index: SQLite FTS5 + triggers, PostgreSQL weighted tsvector + GIN

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from __future__ import annotations

from alembic import op

from hub import search_ddl

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Issue 8: the index is kept in the writing transaction by triggers, so a harvest
    # never leaves search stale. The DDL lives in hub.search_ddl (see its docstring).
    search_ddl.install(op.get_bind(), version=1)


def downgrade() -> None:
    search_ddl.uninstall(op.get_bind())
