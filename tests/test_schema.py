"""The migrations build exactly the schema the models declare, on SQLite and PostgreSQL, and
carry stored data over."""

from __future__ import annotations

from datetime import UTC, datetime

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from monitor.pipeline import story
from monitor.storage.engine import migrate, open_database
from monitor.storage.schema import ArticleRow, Base, StoryKeyRow, StoryTermsRow


def test_migrations_match_the_models(database_url: str) -> None:
    db = open_database(database_url)  # migrates to the newest revision
    try:
        with db.engine.connect() as conn:
            assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
    finally:
        db.dispose()


def test_story_terms_are_carried_over_from_the_stored_story_keys(database_url: str) -> None:
    """0009 replaces weighed story vectors with term counts: an original that had a vector
    gets its stored story keys, each counted once; a copy (no vector) gets none."""
    db = open_database(database_url, upgrade=False)
    try:
        migrate(db.engine, "0008")
        at = datetime(2026, 11, 16, 8, tzinfo=UTC)
        with Session(db.engine) as s, s.begin():
            rows = [
                ArticleRow(url=u, canonical_url=u, discovered_at=at, state="processed")
                for u in ("https://a.example/1", "https://b.example/1")
            ]
            s.add_all(rows)
            s.flush()
            original, copy = rows[0].id, rows[1].id
            s.add_all(
                StoryKeyRow(key=k, at=at, article_id=aid)
                for aid in (original, copy)
                for k in (story.ANY_KEY, 11, -12)
            )
            s.flush()
            s.execute(
                text("INSERT INTO story_vectors (article_id, keys, weights) VALUES (:a, :k, :w)"),
                {"a": original, "k": b"\0" * 8, "w": b"\0" * 4},
            )
        migrate(db.engine, "head")
        with Session(db.engine) as s:
            stored = {
                aid: story.unpack_terms(keys, counts)
                for aid, keys, counts in s.execute(
                    select(StoryTermsRow.article_id, StoryTermsRow.keys, StoryTermsRow.counts)
                )
            }
        assert stored == {original: {story.ANY_KEY: 1, 11: 1, -12: 1}}
    finally:
        db.dispose()
