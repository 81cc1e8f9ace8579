"""Device programs: which mail program a device imitates, and room for the security variants
some programs offer ("SSL/TLS, sans vérifier le certificat" …).

Revision ID: 0003_device_programs
Revises: 0002_workshops
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_device_programs"
down_revision = "0002_workshops"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add `devices.program` ("" is Thunderbird, as before) and widen the security columns."""
    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.add_column(sa.Column("program", sa.String(length=20), nullable=False,
                                      server_default=""))
        for side in ("incoming", "outgoing"):
            batch_op.alter_column(f"{side}_security", existing_type=sa.String(length=10),
                                  type_=sa.String(length=20), existing_nullable=False)


def downgrade() -> None:
    """Drop the program; security variants are written back as the nearest of the three."""
    for side in ("incoming", "outgoing"):
        op.execute(f"UPDATE devices SET {side}_security = 'tls' "
                   f"WHERE {side}_security = 'tls-any-cert'")
        op.execute(f"UPDATE devices SET {side}_security = 'starttls' "
                   f"WHERE {side}_security IN ('starttls-any-cert', 'auto')")
    with op.batch_alter_table("devices", schema=None) as batch_op:
        for side in ("incoming", "outgoing"):
            batch_op.alter_column(f"{side}_security", existing_type=sa.String(length=20),
                                  type_=sa.String(length=10), existing_nullable=False)
        batch_op.drop_column("program")
