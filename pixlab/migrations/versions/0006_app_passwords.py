"""Two-step verification and application passwords in the database, so that every process
sharing it refuses an account's own password to a mail program and accepts the application
passwords made through any of them.

Revision ID: 0006_app_passwords
Revises: 0005_rate_limits
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_app_passwords"
down_revision = "0005_rate_limits"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add accounts.two_step (off for every existing account) and the app_passwords table."""
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("two_step", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    op.create_table(
        "app_passwords",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(length=60), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_app_passwords_account_id"), "app_passwords", ["account_id"],
                    unique=False)


def downgrade() -> None:
    """Drop them (every application password stops working; two-step is off everywhere)."""
    op.drop_index(op.f("ix_app_passwords_account_id"), table_name="app_passwords")
    op.drop_table("app_passwords")
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.drop_column("two_step")
