"""Failed logins counted in the accounts' rows, so that every process sharing the database
locks an account after the same number of failures.

Revision ID: 0004_failed_logins
Revises: 0003_device_programs
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_failed_logins"
down_revision = "0003_device_programs"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add accounts.failed_logins, 0 for every existing account."""
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("failed_logins", sa.Integer(), server_default="0", nullable=False)
        )


def downgrade() -> None:
    """Drop the count (a lock-out in progress is forgotten)."""
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.drop_column("failed_logins")
