"""The epim_ tables: studies, trials (with the front flag).

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the tables."""
    op.create_table(
        "epim_studies",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True)),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("n_trials", sa.Integer(), nullable=False),
        sa.Column("completed_trials", sa.Integer(), nullable=False),
        sa.Column("feasible_trials", sa.Integer(), nullable=False),
        sa.Column("failed_trials", sa.Integer(), nullable=False),
        sa.Column("hypervolume", sa.Float(), nullable=False),
        sa.Column("error", sa.Text()),
        sa.Column("owner", sa.String(200)),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True)),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        sa.Column("runs", sa.Integer(), nullable=False),
    )
    op.create_index("ix_epim_studies_name", "epim_studies", ["name"])
    op.create_index("ix_epim_studies_status", "epim_studies", ["status"])
    op.create_table(
        "epim_trials",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("study_id", sa.Integer(),
                  sa.ForeignKey("epim_studies.id", ondelete="CASCADE"), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("feasible", sa.Boolean(), nullable=False),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.Column("constraints", sa.JSON(), nullable=False),
        sa.Column("design", sa.JSON(), nullable=False),
        sa.Column("layers", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text()),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("on_front", sa.Boolean(), nullable=False),
        sa.UniqueConstraint("study_id", "number", name="uq_epim_trials_number"),
    )
    op.create_index("ix_epim_trials_feasible", "epim_trials", ["study_id", "feasible"])
    op.create_index("ix_epim_trials_on_front", "epim_trials", ["on_front"])


def downgrade() -> None:
    """Drop the tables."""
    op.drop_table("epim_trials")
    op.drop_table("epim_studies")
