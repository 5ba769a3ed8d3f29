"""Worklist snapshots: snapshots, their entries, and each patient's stored data.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "worklist_snapshots",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("server", sa.String(500), nullable=False),
        sa.Column("reader", sa.String(200), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("mode", sa.String(16), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("as_of", sa.String(10), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("based_on", sa.Integer, nullable=True),
        sa.Column("started_at", sa.Float, nullable=False),
        sa.Column("heartbeat_at", sa.Float, nullable=False),
        sa.Column("finished_at", sa.Float, nullable=True),
        sa.Column("since", sa.Float, nullable=True),
        sa.Column("stage", sa.String(200), nullable=False),
        sa.Column("progress_done", sa.Integer, nullable=False),
        sa.Column("progress_total", sa.Integer, nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("stats", sa.Text, nullable=True),
        sa.Column("rows", sa.LargeBinary, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_worklist_snapshots"),
    )
    op.create_index("ix_worklist_snapshots_key_status", "worklist_snapshots", ["key", "status"])
    op.create_table(
        "worklist_patient_data",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("patient_id", sa.String(64), nullable=False),
        sa.Column("read_at", sa.Float, nullable=False),
        sa.Column("resources", sa.LargeBinary, nullable=False),
        sa.Column("resource_keys", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_worklist_patient_data"),
    )
    op.create_index(
        "ix_worklist_patient_data_key_patient",
        "worklist_patient_data",
        ["key", "patient_id"],
    )
    op.create_table(
        "worklist_entries",
        sa.Column("snapshot_id", sa.Integer, nullable=False),
        sa.Column("patient_id", sa.String(64), nullable=False),
        sa.Column("data_id", sa.Integer, nullable=False),
        sa.Column("summary", sa.LargeBinary, nullable=False),
        sa.PrimaryKeyConstraint("snapshot_id", "patient_id", name="pk_worklist_entries"),
        sa.ForeignKeyConstraint(
            ["snapshot_id"],
            ["worklist_snapshots.id"],
            name="fk_worklist_entries_snapshot_id_worklist_snapshots",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["data_id"],
            ["worklist_patient_data.id"],
            name="fk_worklist_entries_data_id_worklist_patient_data",
        ),
    )
    op.create_index("ix_worklist_entries_data_id", "worklist_entries", ["data_id"])


def downgrade() -> None:
    op.drop_index("ix_worklist_entries_data_id", table_name="worklist_entries")
    op.drop_table("worklist_entries")
    op.drop_index("ix_worklist_patient_data_key_patient", table_name="worklist_patient_data")
    op.drop_table("worklist_patient_data")
    op.drop_index("ix_worklist_snapshots_key_status", table_name="worklist_snapshots")
    op.drop_table("worklist_snapshots")
