"""articles: index "first seen or published" as one date, not published_at on its own

Every --since filter asks for articles first seen or published since a moment. The index
on published_at that served the OR took each poll's items on random pages (feeds list
items in their own order), over a third of the cost of inserting an article; the later
of the two dates grows at the end of its index.

Revision ID: 20261204_0005
Revises: 20261201_0004
Create Date: 2026-12-04 02:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '20261204_0005'
down_revision = '20261201_0004'
branch_labels = None
depends_on = None


def _later_of_seen_and_published() -> sa.TextClause:
    function = 'max' if op.get_bind().dialect.name == 'sqlite' else 'greatest'
    return sa.text(f'{function}(first_seen_at, published_at)')


def upgrade() -> None:
    op.drop_index('ix_articles_published', table_name='articles')
    op.create_index('ix_articles_recent', 'articles', [_later_of_seen_and_published()])


def downgrade() -> None:
    op.drop_index('ix_articles_recent', table_name='articles')
    op.create_index('ix_articles_published', 'articles', ['published_at'])
