"""story vectors: each story key's weight in its article's vector, keys found by article

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
    op.add_column("story_keys", sa.Column("weight", sa.Float(), nullable=True))
    op.create_index("ix_story_keys_article_id", "story_keys", ["article_id"])


def downgrade() -> None:
    op.drop_index("ix_story_keys_article_id", table_name="story_keys")
    with op.batch_alter_table("story_keys") as batch:
        batch.drop_column("weight")
