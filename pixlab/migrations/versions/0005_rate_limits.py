"""Flask-Limiter's counters in the database, shared by every process (pixlab.workshops.throttles).

Revision ID: 0005_rate_limits
Revises: 0004_failed_logins
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_rate_limits"
down_revision = "0004_failed_logins"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create rate_limits: one fixed window per key."""
    op.create_table(
        "rate_limits",
        sa.Column("key", sa.String(length=300), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )


def downgrade() -> None:
    """Drop it (the counters start again from nothing)."""
    op.drop_table("rate_limits")
