"""Tenant registry.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

from portal.db import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tenant",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("publishable_key", sa.String(64), nullable=False),
        sa.Column("secret_key_hash", sa.String(64), nullable=False),
        sa.Column("secret_key_hint", sa.String(16), nullable=False),
        sa.Column("token_secret_encrypted", sa.Text(), nullable=False),
        sa.Column("stripe_secret_key_encrypted", sa.Text(), nullable=False),
        sa.Column("stripe_secret_key_hint", sa.String(32), nullable=False),
        sa.Column("callback_secret_encrypted", sa.Text(), nullable=False),
        sa.Column("stripe_publishable_key", sa.String(255), nullable=True),
        sa.Column("stripe_api_base", sa.String(500), nullable=True),
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.Column("allowed_origins", sa.JSON(), nullable=False),
        sa.Column("callback_url", sa.String(2000), nullable=True),
        sa.Column("legacy_hash_enabled", sa.Boolean(), nullable=False),
        sa.Column("widget_options", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tenant")),
        sa.UniqueConstraint("publishable_key", name=op.f("uq_tenant_publishable_key")),
        sa.UniqueConstraint("secret_key_hash", name=op.f("uq_tenant_secret_key_hash")),
    )


def downgrade() -> None:
    op.drop_table("tenant")
