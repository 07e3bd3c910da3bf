"""A dedupe key on callback deliveries: one callback per completed action.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("callback_delivery") as batch:
        batch.add_column(sa.Column("dedupe_key", sa.String(300), nullable=True))
        batch.create_unique_constraint("uq_callback_delivery_dedupe_key", ["tenant_id", "dedupe_key"])


def downgrade() -> None:
    with op.batch_alter_table("callback_delivery") as batch:
        batch.drop_constraint("uq_callback_delivery_dedupe_key", type_="unique")
        batch.drop_column("dedupe_key")
