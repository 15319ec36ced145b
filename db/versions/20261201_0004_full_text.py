"""full text: article pages (status, claim, text, canonical URL, language, failure)

Revision ID: 20261201_0004
Revises: 20261124_0003
Create Date: 2026-12-01 09:12:40.118204
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '20261201_0004'
down_revision = '20261124_0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('feeds', schema=None) as batch_op:
        batch_op.add_column(sa.Column('full_text', sa.String(length=8), nullable=True))

    with op.batch_alter_table('articles', schema=None) as batch_op:
        batch_op.add_column(sa.Column('page_status', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('page_version', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('page_claimed_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('page_fetched_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('page_text', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('page_url', sa.String(length=4096), nullable=True))
        batch_op.add_column(sa.Column('page_language', sa.String(length=35), nullable=True))
        batch_op.add_column(sa.Column('page_cut', sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column('page_failure', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('page_error', sa.Text(), nullable=True))
        batch_op.create_index('ix_articles_page_status', ['page_status'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('articles', schema=None) as batch_op:
        batch_op.drop_index('ix_articles_page_status')
        batch_op.drop_column('page_error')
        batch_op.drop_column('page_failure')
        batch_op.drop_column('page_cut')
        batch_op.drop_column('page_language')
        batch_op.drop_column('page_url')
        batch_op.drop_column('page_text')
        batch_op.drop_column('page_fetched_at')
        batch_op.drop_column('page_claimed_at')
        batch_op.drop_column('page_version')
        batch_op.drop_column('page_status')

    with op.batch_alter_table('feeds', schema=None) as batch_op:
        batch_op.drop_column('full_text')
