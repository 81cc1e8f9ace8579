"""Baseline: the schema of PixLab before migrations, as `Base.metadata.create_all` made it.

A database made by an earlier PixLab (tables, no alembic_version) is stamped
at this revision rather than created again: see `pixlab.db.upgrade`.

Revision ID: 0001_baseline
Revises:
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_baseline"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create every table of PixLab's first schema."""
    op.create_table(
        "accounts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=False),
        sa.Column("quota_bytes", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("address"),
    )
    op.create_table(
        "events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.Float(), nullable=False),
        sa.Column("kind", sa.String(length=60), nullable=False),
        sa.Column("connection_id", sa.String(length=40), nullable=True),
        sa.Column("account", sa.String(length=320), nullable=True),
        sa.Column("listener", sa.String(length=40), nullable=True),
        sa.Column("tls", sa.Boolean(), nullable=True),
        sa.Column("data", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.create_index("ix_events_account", ["account"], unique=False)
        batch_op.create_index("ix_events_connection", ["connection_id"], unique=False)

    op.create_table(
        "learners",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("resume_code", sa.String(length=16), nullable=False),
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.Column("password", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("address"),
        sa.UniqueConstraint("resume_code"),
    )
    op.create_table(
        "scenario_attempts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("learner", sa.String(length=100), nullable=False),
        sa.Column("slug", sa.String(length=100), nullable=False),
        sa.Column("lang", sa.String(length=5), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.Column("password", sa.String(length=100), nullable=False),
        sa.Column("started_at", sa.Float(), nullable=False),
        sa.Column("ended_at", sa.Float(), nullable=True),
        sa.Column("objectives_met", sa.Integer(), nullable=False),
        sa.Column("objectives_total", sa.Integer(), nullable=False),
        sa.Column("mistakes_made", sa.Integer(), nullable=False),
        sa.Column("hints_used", sa.Integer(), nullable=False),
        sa.Column("quiz_correct", sa.Integer(), nullable=False),
        sa.Column("quiz_answered", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("scenario_attempts", schema=None) as batch_op:
        batch_op.create_index("ix_scenario_attempts_address", ["address", "status"], unique=False)
        batch_op.create_index("ix_scenario_attempts_learner", ["learner", "slug"], unique=False)

    op.create_table(
        "devices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("learner_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("incoming_protocol", sa.String(length=10), nullable=False),
        sa.Column("incoming_host", sa.String(length=255), nullable=False),
        sa.Column("incoming_port", sa.Integer(), nullable=True),
        sa.Column("incoming_security", sa.String(length=10), nullable=False),
        sa.Column("incoming_auth", sa.String(length=10), nullable=False),
        sa.Column("incoming_username", sa.String(length=320), nullable=False),
        sa.Column("outgoing_host", sa.String(length=255), nullable=False),
        sa.Column("outgoing_port", sa.Integer(), nullable=True),
        sa.Column("outgoing_security", sa.String(length=10), nullable=False),
        sa.Column("outgoing_auth", sa.String(length=10), nullable=False),
        sa.Column("outgoing_username", sa.String(length=320), nullable=False),
        sa.Column("password", sa.String(length=200), nullable=False),
        sa.Column("leave_on_server", sa.String(length=20), nullable=False),
        sa.Column("leave_days", sa.Integer(), nullable=False),
        sa.Column("accepted_cleartext", sa.Boolean(), nullable=False),
        sa.Column("accepted_risks", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["learner_id"], ["learners.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("learner_id", "position"),
    )
    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_devices_learner_id"), ["learner_id"], unique=False)

    op.create_table(
        "folders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=500), nullable=False),
        sa.Column("special_use", sa.String(length=20), nullable=True),
        sa.Column("uidvalidity", sa.Integer(), nullable=False),
        sa.Column("uidnext", sa.Integer(), nullable=False),
        sa.Column("subscribed", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("account_id", "name"),
    )
    op.create_table(
        "device_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("device_id", sa.Integer(), nullable=False),
        sa.Column("folder", sa.String(length=100), nullable=False),
        sa.Column("server_uid", sa.String(length=100), nullable=True),
        sa.Column("kept_at", sa.Float(), nullable=False),
        sa.Column("seen", sa.Boolean(), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("raw", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["device_id"], ["devices.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("device_messages", schema=None) as batch_op:
        batch_op.create_index("ix_device_messages_folder", ["device_id", "folder"], unique=False)

    op.create_table(
        "device_traces",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("learner_id", sa.Integer(), nullable=False),
        sa.Column("device_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["device_id"], ["devices.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["learner_id"], ["learners.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("device_traces", schema=None) as batch_op:
        batch_op.create_index(
            "ix_device_traces_learner", ["learner_id", "created_at"], unique=False
        )

    op.create_table(
        "messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("folder_id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("uid", sa.Integer(), nullable=False),
        sa.Column("flags", sa.String(length=500), nullable=False),
        sa.Column("internal_date", sa.Integer(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("raw", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["folder_id"], ["folders.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("folder_id", "uid"),
    )
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.create_index("ix_messages_account_size", ["account_id", "size"], unique=False)


def downgrade() -> None:
    """Drop them all."""

    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index("ix_messages_account_size")

    op.drop_table("messages")
    with op.batch_alter_table("device_traces", schema=None) as batch_op:
        batch_op.drop_index("ix_device_traces_learner")

    op.drop_table("device_traces")
    with op.batch_alter_table("device_messages", schema=None) as batch_op:
        batch_op.drop_index("ix_device_messages_folder")

    op.drop_table("device_messages")
    op.drop_table("folders")
    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_devices_learner_id"))

    op.drop_table("devices")
    with op.batch_alter_table("scenario_attempts", schema=None) as batch_op:
        batch_op.drop_index("ix_scenario_attempts_learner")
        batch_op.drop_index("ix_scenario_attempts_address")

    op.drop_table("scenario_attempts")
    op.drop_table("learners")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index("ix_events_connection")
        batch_op.drop_index("ix_events_account")

    op.drop_table("events")
    op.drop_table("accounts")
