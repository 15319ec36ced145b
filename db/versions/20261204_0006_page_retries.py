"""articles: count failed page fetches and when a transient failure is tried again

A timeout, a refused connection or an HTTP 408, 429 or 5xx was final for an article
version, so one bad minute of a site cost its articles their page text for good.

Revision ID: 20261204_0006
Revises: 20261204_0005
Create Date: 2026-12-04 05:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '20261204_0006'
down_revision = '20261204_0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ALTER TABLE ADD COLUMN on both engines: batch mode would reflect the table
    # (SQLite cannot reflect ix_articles_recent's expression) and might rebuild it.
    op.add_column(
        'articles',
        sa.Column('page_attempts', sa.Integer(), server_default=sa.text('0'), nullable=False),
    )
    op.add_column('articles', sa.Column('page_retry_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column('articles', 'page_retry_at')
    op.drop_column('articles', 'page_attempts')
