"""ingest: a source's adaptive interval and feed <ttl>, where an article's date came from

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("sources", sa.Column("poll_interval_s", sa.Integer(), nullable=True))
    op.add_column("sources", sa.Column("feed_ttl_s", sa.Integer(), nullable=True))
    op.add_column("articles", sa.Column("date_source", sa.String(length=10), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("articles") as batch:
        batch.drop_column("date_source")
    with op.batch_alter_table("sources") as batch:
        batch.drop_column("feed_ttl_s")
        batch.drop_column("poll_interval_s")
