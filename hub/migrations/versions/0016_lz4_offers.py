"""the offers' compressed columns in lz4 on PostgreSQL, where the server has it

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-28
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

log = logging.getLogger(__name__)

# Issue 8: every new offer's bodies, search text and vector are compressed as it is
# written (toast_tuple_target 256, migration 0010; the vector in the row, 0012): with
# pglz, the default, a first harvest of 40 x 250 offers took 1.51-1.54 s, with lz4
# 1.32-1.44 s (bench/README.md). lz4 also reads back faster. Values written before
# keep their compression until rewritten. PostgreSQL built without lz4 keeps pglz.
_COLUMNS = "SELECT attname FROM pg_attribute WHERE attrelid = 'offers'::regclass"
_COMPRESSIBLE = f"{_COLUMNS} AND attnum > 0 AND NOT attisdropped AND attlen = -1"


def _compress(method: str) -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    methods = bind.scalar(
        sa.text(
            "SELECT enumvals FROM pg_settings WHERE name = 'default_toast_compression'"
        )
    )
    if methods is None:  # before PostgreSQL 14: no compression to choose
        return
    if method != "default" and method not in methods:
        log.warning("PostgreSQL has no %s compression: offers stay as they are", method)
        return
    for (column,) in bind.execute(sa.text(_COMPRESSIBLE)):
        op.execute(
            f'ALTER TABLE offers ALTER COLUMN "{column}" SET COMPRESSION {method}'
        )


def upgrade() -> None:
    _compress("lz4")


def downgrade() -> None:
    _compress("default")
