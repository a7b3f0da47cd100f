"""organisation profiles: what a company-profile feed entry says of an organisation

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_FK = "fk_organisations_profile_source_id_sources"


def upgrade() -> None:
    # Columns only, in place: "organisations" is referenced by "offers", and SQLite
    # would have to rebuild it (and the offers' foreign key) to change constraints.
    if op.get_bind().dialect.name == "sqlite":  # ADD COLUMN may carry REFERENCES
        op.execute(
            "ALTER TABLE organisations ADD COLUMN profile_source_id INTEGER "
            f"CONSTRAINT {_FK} REFERENCES sources (id)"
        )
    with op.batch_alter_table("organisations", recreate="never") as batch:
        batch.add_column(
            sa.Column("description", sa.Text(), nullable=False, server_default="")
        )
        for column in ("capabilities", "sectors"):
            batch.add_column(
                sa.Column(column, sa.JSON(), nullable=False, server_default="[]")
            )
        batch.add_column(sa.Column("profile_url", sa.String(2000), nullable=True))
        batch.add_column(sa.Column("profile_language", sa.String(8), nullable=True))
        if op.get_bind().dialect.name != "sqlite":
            batch.add_column(
                sa.Column(
                    "profile_source_id",
                    sa.Integer(),
                    sa.ForeignKey("sources.id", name=_FK),
                    nullable=True,
                )
            )
        batch.add_column(sa.Column("profile_guid", sa.String(2000), nullable=True))
        batch.add_column(sa.Column("profile_hash", sa.String(64), nullable=True))
        for column in ("profile_seen_at", "profile_withdrawn_at"):
            batch.add_column(
                sa.Column(column, sa.DateTime(timezone=True), nullable=True)
            )
        batch.create_index("ix_organisations_profile_source_id", ["profile_source_id"])


def downgrade() -> None:
    with op.batch_alter_table("organisations", recreate="never") as batch:
        batch.drop_index("ix_organisations_profile_source_id")
        for column in (
            "profile_withdrawn_at",
            "profile_seen_at",
            "profile_hash",
            "profile_guid",
            "profile_source_id",
            "profile_language",
            "profile_url",
            "sectors",
            "capabilities",
            "description",
        ):
            batch.drop_column(column)
