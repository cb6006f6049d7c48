"""The migrations build exactly the schema the models declare, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from monitor.storage.engine import open_database
from monitor.storage.schema import Base


def test_migrations_match_the_models(database_url: str) -> None:
    db = open_database(database_url)  # migrates to the newest revision
    try:
        with db.engine.connect() as conn:
            assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
    finally:
        db.dispose()
