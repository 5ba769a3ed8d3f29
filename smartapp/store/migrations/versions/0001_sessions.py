"""Sessions in the store: sessions, their encrypted values and pending authorizations; leases.

Revision ID: 0001
Revises:
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sessions",
        sa.Column("pk", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("sid_hash", sa.String(64), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("pk", name="pk_sessions"),
        sa.UniqueConstraint("sid_hash", name="uq_sessions_sid_hash"),
    )
    op.create_index("ix_sessions_expires_at", "sessions", ["expires_at"])
    op.create_table(
        "session_values",
        sa.Column("session_pk", sa.Integer, nullable=False),
        sa.Column("key", sa.String(32), nullable=False),
        sa.Column("value", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("session_pk", "key", name="pk_session_values"),
        sa.ForeignKeyConstraint(
            ["session_pk"],
            ["sessions.pk"],
            name="fk_session_values_session_pk_sessions",
            ondelete="CASCADE",
        ),
    )
    op.create_table(
        "session_pending",
        sa.Column("pk", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("session_pk", sa.Integer, nullable=False),
        sa.Column("state_hash", sa.String(64), nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False),
        sa.Column("record", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("pk", name="pk_session_pending"),
        sa.ForeignKeyConstraint(
            ["session_pk"],
            ["sessions.pk"],
            name="fk_session_pending_session_pk_sessions",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint("session_pk", "state_hash", name="uq_session_pending_state"),
    )
    op.create_index("ix_session_pending_expires_at", "session_pending", ["expires_at"])
    op.create_table(
        "leases",
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("owner", sa.String(64), nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_leases"),
    )


def downgrade() -> None:
    op.drop_table("leases")
    op.drop_index("ix_session_pending_expires_at", table_name="session_pending")
    op.drop_table("session_pending")
    op.drop_table("session_values")
    op.drop_index("ix_sessions_expires_at", table_name="sessions")
    op.drop_table("sessions")
