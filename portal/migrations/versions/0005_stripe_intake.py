"""Stripe webhook intake: received events, and each tenant's endpoint and its secret.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

from portal.db import UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "stripe_event",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.String(40), nullable=False),
        sa.Column("stripe_event_id", sa.String(255), nullable=False),
        sa.Column("type", sa.String(100), nullable=False),
        sa.Column("object_id", sa.String(255), nullable=False),
        sa.Column("created", sa.BigInteger(), nullable=False),
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.Column("processed_at", UTCDateTime(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=True),
        sa.Column("claimed_until", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenant.id"],
            name=op.f("fk_stripe_event_tenant_id_tenant"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stripe_event")),
        sa.UniqueConstraint(
            "tenant_id", "stripe_event_id", name=op.f("uq_stripe_event_tenant_id")
        ),
    )
    op.create_index("ix_stripe_event_due", "stripe_event", ["status", "next_attempt_at"])
    op.create_index("ix_stripe_event_object", "stripe_event", ["tenant_id", "object_id", "status"])
    with op.batch_alter_table("tenant") as batch:
        batch.add_column(sa.Column("stripe_webhook_secret_encrypted", sa.Text(), nullable=True))
        batch.add_column(sa.Column("stripe_webhook_endpoint_id", sa.String(255), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tenant") as batch:
        batch.drop_column("stripe_webhook_endpoint_id")
        batch.drop_column("stripe_webhook_secret_encrypted")
    op.drop_table("stripe_event")
