"""story terms: an original's story keys with their counts, weighed when clustered

Story vectors weighed at the time an article was stored made stories depend on the order
articles were processed in; the counts are stored instead. Existing originals get their
stored story keys, each counted once.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

from itertools import groupby

import numpy as np
import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_BATCH = 5000


def upgrade() -> None:
    terms = op.create_table(
        "story_terms",
        sa.Column(
            "article_id",
            sa.Integer(),
            sa.ForeignKey("articles.id", ondelete="CASCADE"),
            primary_key=True,
            autoincrement=False,
        ),
        sa.Column("keys", sa.LargeBinary(), nullable=False),
        sa.Column("counts", sa.LargeBinary(), nullable=False),
    )
    assert terms is not None
    bind = op.get_bind()
    rows = bind.execute(
        sa.text(
            "SELECT v.article_id, k.key FROM story_vectors v "
            "JOIN story_keys k ON k.article_id = v.article_id ORDER BY v.article_id"
        )
    )
    batch: list[dict[str, object]] = []
    for article, keyed in groupby(rows, key=lambda r: r[0]):
        keys = np.array([k for _, k in keyed], dtype=np.int64)
        counts = np.ones(len(keys), dtype=np.float32)
        batch.append({"article_id": article, "keys": keys.tobytes(), "counts": counts.tobytes()})
        if len(batch) >= _BATCH:
            op.bulk_insert(terms, batch)
            batch = []
    if batch:
        op.bulk_insert(terms, batch)
    op.drop_table("story_vectors")


def downgrade() -> None:
    op.drop_table("story_terms")
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
