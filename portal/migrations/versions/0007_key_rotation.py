"""Key rotation: the secret each rotation replaced, and until when it still counts.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

from portal.db import UTCDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tenant") as batch:
        batch.add_column(sa.Column("previous_secret_key_hash", sa.String(64), nullable=True))
        batch.add_column(sa.Column("previous_secret_key_expires_at", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("previous_token_secret_encrypted", sa.Text(), nullable=True))
        batch.add_column(
            sa.Column("previous_token_secret_expires_at", UTCDateTime(), nullable=True)
        )
        batch.add_column(sa.Column("previous_callback_secret_encrypted", sa.Text(), nullable=True))
        batch.add_column(
            sa.Column("previous_callback_secret_expires_at", UTCDateTime(), nullable=True)
        )
        batch.create_index("ix_tenant_previous_secret_key_hash", ["previous_secret_key_hash"])


def downgrade() -> None:
    with op.batch_alter_table("tenant") as batch:
        batch.drop_index("ix_tenant_previous_secret_key_hash")
        for column in (
            "previous_callback_secret_expires_at",
            "previous_callback_secret_encrypted",
            "previous_token_secret_expires_at",
            "previous_token_secret_encrypted",
            "previous_secret_key_expires_at",
            "previous_secret_key_hash",
        ):
            batch.drop_column(column)
