"""near-duplicate index (LSH bands, sketches), story keys, page rel=canonical

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02 00:16:05.792083

Articles processed before this revision have no sketch or bands: they are still found by
URL and exact text, not as near duplicates.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import monitor.storage.schema

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "article_signatures",
        sa.Column("article_id", sa.Integer(), nullable=False),
        sa.Column("shingles", sa.Integer(), nullable=False),
        sa.Column("sketch", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["article_id"], ["articles.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("article_id"),
    )
    op.create_table(
        "dedup_bands",
        sa.Column("bucket", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("article_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.ForeignKeyConstraint(["article_id"], ["articles.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("bucket", "article_id"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "story_keys",
        sa.Column("key", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("at", monitor.storage.schema.UTCDateTime(timezone=True), nullable=False),
        sa.Column("article_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.ForeignKeyConstraint(["article_id"], ["articles.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("key", "at", "article_id"),
        sqlite_with_rowid=False,
    )
    with op.batch_alter_table("articles", schema=None) as batch_op:
        batch_op.add_column(sa.Column("page_canonical_url", sa.String(length=2000), nullable=True))
        batch_op.create_index("ix_articles_duplicate_of_id", ["duplicate_of_id"], unique=False)
        batch_op.create_index("ix_articles_guid", ["guid"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_articles_page_canonical_url"), ["page_canonical_url"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("articles", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_articles_page_canonical_url"))
        batch_op.drop_index("ix_articles_guid")
        batch_op.drop_index("ix_articles_duplicate_of_id")
        batch_op.drop_column("page_canonical_url")
    op.drop_table("story_keys")
    op.drop_table("dedup_bands")
    op.drop_table("article_signatures")
