"""Change counting: what processes need to know to keep tenants' pages in memory.

Every insert, update and delete in ``tenant``, ``billing_page`` and ``catalog_snapshot``
adds one to ``change_counter`` and writes the new count on the tenant's ``tenant_change``
row, from triggers, so no write path can forget it (portal/changes.py reads them).

On PostgreSQL the triggers are deferred to commit: the counter's row is locked only while
a transaction commits, and counts are handed out in commit order, so a reader asking for
changes after the count it last saw never misses one that committed before a later one.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

# Each watched table, and the column naming its tenant.
WATCHED = {"tenant": "id", "billing_page": "tenant_id", "catalog_snapshot": "tenant_id"}
OPERATIONS = {"insert": "NEW", "update": "NEW", "delete": "OLD"}

POSTGRESQL_FUNCTION = """
CREATE FUNCTION billport_tenant_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    changed_tenant text;
    counted bigint;
BEGIN
    IF TG_OP = 'DELETE' AND TG_TABLE_NAME = 'tenant' THEN
        changed_tenant := OLD.id;
    ELSIF TG_OP = 'DELETE' THEN
        changed_tenant := OLD.tenant_id;
    ELSIF TG_TABLE_NAME = 'tenant' THEN
        changed_tenant := NEW.id;
    ELSE
        changed_tenant := NEW.tenant_id;
    END IF;
    UPDATE change_counter SET version = version + 1 WHERE id = 1 RETURNING version INTO counted;
    INSERT INTO tenant_change (tenant_id, version) VALUES (changed_tenant, counted)
        ON CONFLICT (tenant_id) DO UPDATE SET version = excluded.version;
    RETURN NULL;
END
$$
"""


def upgrade() -> None:
    op.create_table(
        "change_counter",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "tenant_change",
        sa.Column("tenant_id", sa.String(40), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id"),
    )
    op.create_index("ix_tenant_change_version", "tenant_change", ["version"])
    op.execute("INSERT INTO change_counter (id, version) VALUES (1, 0)")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(POSTGRESQL_FUNCTION)
        for table in WATCHED:
            op.execute(
                f"CREATE CONSTRAINT TRIGGER {table}_changed"
                f" AFTER INSERT OR UPDATE OR DELETE ON {table}"
                " DEFERRABLE INITIALLY DEFERRED FOR EACH ROW"
                " EXECUTE FUNCTION billport_tenant_changed()"
            )
        return
    for table, column in WATCHED.items():
        for operation, row in OPERATIONS.items():
            op.execute(
                f"CREATE TRIGGER {table}_{operation}_changed AFTER {operation.upper()} ON {table}"
                " FOR EACH ROW BEGIN"
                " UPDATE change_counter SET version = version + 1 WHERE id = 1;"
                " INSERT INTO tenant_change (tenant_id, version)"
                f" VALUES ({row}.{column}, (SELECT version FROM change_counter WHERE id = 1))"
                " ON CONFLICT (tenant_id) DO UPDATE SET version = excluded.version;"
                " END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in WATCHED:
            op.execute(f"DROP TRIGGER {table}_changed ON {table}")
        op.execute("DROP FUNCTION billport_tenant_changed()")
    else:
        for table in WATCHED:
            for operation in OPERATIONS:
                op.execute(f"DROP TRIGGER {table}_{operation}_changed")
    op.drop_index("ix_tenant_change_version", table_name="tenant_change")
    op.drop_table("tenant_change")
    op.drop_table("change_counter")
