"""story vectors: each article's story vector in one row, story keys found by article

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "story_vectors",
        sa.Column(
            "article_id",
            sa.Integer(),
            sa.ForeignKey("articles.id", ondelete="CASCADE"),
            primary_key=True,
            autoincrement=False,
        ),
        sa.Column("keys", sa.LargeBinary(), nullable=False),
        sa.Column("weights", sa.LargeBinary(), nullable=False),
    )
    op.create_index("ix_story_keys_article_id", "story_keys", ["article_id"])


def downgrade() -> None:
    op.drop_index("ix_story_keys_article_id", table_name="story_keys")
    op.drop_table("story_vectors")
