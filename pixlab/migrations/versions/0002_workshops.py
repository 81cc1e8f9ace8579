"""Workshops: trainers' accounts, workshops with their join codes and live faults, and the
learners who joined one under a pseudonym.

Revision ID: 0002_workshops
Revises: 0001_baseline
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_workshops"
down_revision = "0001_baseline"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the workshops' three tables; a workshop's learner points at `learners.id`."""
    op.create_table(
        "trainers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("password_hash", sa.String(length=300), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "workshops",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("trainer_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("code", sa.String(length=12), nullable=False),
        sa.Column("slugs", sa.Text(), nullable=False),
        sa.Column("stuck_minutes", sa.Integer(), nullable=False),
        sa.Column("retention_days", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("ends_at", sa.Float(), nullable=True),
        sa.Column("closed_at", sa.Float(), nullable=True),
        sa.Column("faults", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["trainer_id"], ["trainers.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code"),
    )
    with op.batch_alter_table("workshops", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_workshops_trainer_id"), ["trainer_id"], unique=False)

    op.create_table(
        "workshop_learners",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workshop_id", sa.Integer(), nullable=False),
        sa.Column("learner_id", sa.Integer(), nullable=False),
        sa.Column("pseudonym", sa.String(length=40), nullable=False),
        sa.Column("pseudonym_key", sa.String(length=40), nullable=False),
        sa.Column("joined_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["learner_id"], ["learners.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["workshop_id"], ["workshops.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("learner_id"),
        sa.UniqueConstraint("workshop_id", "pseudonym_key"),
    )
    with op.batch_alter_table("workshop_learners", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_workshop_learners_workshop_id"), ["workshop_id"], unique=False
        )


def downgrade() -> None:
    """Drop them, the learners' rows first."""
    with op.batch_alter_table("workshop_learners", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_workshop_learners_workshop_id"))

    op.drop_table("workshop_learners")
    with op.batch_alter_table("workshops", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_workshops_trainer_id"))

    op.drop_table("workshops")
    op.drop_table("trainers")
