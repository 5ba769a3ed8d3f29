"""CDS Hooks: the cards returned, the feedback on them, the JWT ids used (replay).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cds_cards",
        sa.Column("card", sa.String(64), nullable=False),
        sa.Column("service", sa.String(64), nullable=False),
        sa.Column("check_id", sa.String(64), nullable=False),
        sa.Column("indicator", sa.String(16), nullable=False),
        sa.Column("issued_at", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("card", name="pk_cds_cards"),
    )
    op.create_index("ix_cds_cards_issued_at", "cds_cards", ["issued_at"])
    op.create_table(
        "cds_feedback",
        sa.Column("pk", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("service", sa.String(64), nullable=False),
        sa.Column("card", sa.String(256), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("outcome_at", sa.Float, nullable=False),
        sa.Column("accepted_suggestions", sa.Text, nullable=False),
        sa.Column("reason_system", sa.String(256)),
        sa.Column("reason_code", sa.String(256)),
        sa.Column("reason_display", sa.String(256)),
        sa.Column("comment", sa.Text),
        sa.PrimaryKeyConstraint("pk", name="pk_cds_feedback"),
    )
    op.create_index("ix_cds_feedback_outcome_at", "cds_feedback", ["outcome_at"])
    op.create_table(
        "cds_jti",
        sa.Column("issuer", sa.String(512), nullable=False),
        sa.Column("jti", sa.String(255), nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("issuer", "jti", name="pk_cds_jti"),
    )
    op.create_index("ix_cds_jti_expires_at", "cds_jti", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_cds_jti_expires_at", table_name="cds_jti")
    op.drop_table("cds_jti")
    op.drop_index("ix_cds_feedback_outcome_at", table_name="cds_feedback")
    op.drop_table("cds_feedback")
    op.drop_index("ix_cds_cards_issued_at", table_name="cds_cards")
    op.drop_table("cds_cards")
