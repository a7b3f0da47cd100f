"""Alembic environment.

Runs on the engine that hub.db hands over (never a URL in an ini).
"""

from __future__ import annotations

from alembic import context

from hub import search_ddl
from hub.models import Base


def include_object(
    obj: object, name: str | None, type_: str, reflected: bool, compare_to: object
) -> bool:
    """Leave the search index (migration 0002, hub.search_ddl) out of autogenerate:
    it is not in the models on purpose."""
    if type_ == "table" and name and name.startswith(search_ddl.SQLITE_FTS):
        return False
    if type_ == "column" and name == search_ddl.PG_COLUMN:
        return False
    indexes = {search_ddl.PG_INDEX, *search_ddl.SEARCH_INDEXES}
    return not (type_ == "index" and name in indexes)


engine = context.config.attributes["engine"]
with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_object=include_object,
    )
    context.run_migrations()
