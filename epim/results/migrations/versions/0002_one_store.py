"""One results store: what a study is resumed from lives in the epim_ tables.

Studies gain their network name, dense baseline, elapsed time (a timeout spans resumes),
front size and best trials; trials gain the sampler parameters and state they are replayed
from, their design hash, where and by what they were proposed and evaluated; designs are
rewritten from positional lists to the design file format; ``epim_progress`` keeps the
counters after every batch.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

DESIGN_FIELDS = ("epitome_in", "epitome_out", "epitome_h", "epitome_w", "weight_bits",
                 "act_bits", "channel_offsets")


def upgrade() -> None:
    """Add the columns and the progress table; rewrite stored designs by field name."""
    with op.batch_alter_table("epim_studies") as batch:
        batch.add_column(sa.Column("network", sa.String(200), nullable=False,
                                   server_default=""))
        batch.add_column(sa.Column("front_size", sa.Integer(), nullable=False,
                                   server_default="0"))
        batch.add_column(sa.Column("elapsed_s", sa.Float(), nullable=False,
                                   server_default="0"))
        batch.add_column(sa.Column("best", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("baseline", sa.JSON(), nullable=True))
    with op.batch_alter_table("epim_trials") as batch:
        batch.add_column(sa.Column("design_hash", sa.String(32), nullable=False,
                                   server_default=""))
        batch.add_column(sa.Column("params", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("system_attrs", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("values", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("accuracy_evaluated", sa.Boolean(), nullable=False,
                                   server_default=sa.false()))
        batch.add_column(sa.Column("node", sa.String(200), nullable=True))
        batch.add_column(sa.Column("source", sa.String(32), nullable=True))
        batch.add_column(sa.Column("fidelity", sa.Integer(), nullable=True))
    op.create_table(
        "epim_progress",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("study_id", sa.Integer(),
                  sa.ForeignKey("epim_studies.id", ondelete="CASCADE"), nullable=False),
        sa.Column("completed", sa.Integer(), nullable=False),
        sa.Column("feasible", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("front_size", sa.Integer(), nullable=False),
        sa.Column("hypervolume", sa.Float(), nullable=False),
        sa.Column("elapsed_s", sa.Float(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_epim_progress_study", "epim_progress", ["study_id", "completed"])
    _rewrite_designs()


def _rewrite_designs() -> None:
    connection = op.get_bind()
    studies = sa.table("epim_studies", sa.column("id", sa.Integer()),
                       sa.column("spec", sa.JSON()), sa.column("network", sa.String()))
    trials = sa.table("epim_trials", sa.column("id", sa.Integer()),
                      sa.column("study_id", sa.Integer()), sa.column("design", sa.JSON()))
    names: dict[int, str] = {}
    for study_id, spec in connection.execute(sa.select(studies.c.id, studies.c.spec)):
        network: Any = (spec or {}).get("network")
        names[study_id] = network if isinstance(network, str) else str(
            (network or {}).get("name", ""))
        connection.execute(studies.update().where(studies.c.id == study_id)
                           .values(network=names[study_id]))
    for trial_id, study_id, design in connection.execute(
            sa.select(trials.c.id, trials.c.study_id, trials.c.design)):
        if not isinstance(design, dict) or "layers" in design:
            continue
        layers = {name: dict(zip(DESIGN_FIELDS, values, strict=True))
                  for name, values in design.items()}
        connection.execute(trials.update().where(trials.c.id == trial_id).values(
            design={"network": names.get(study_id, ""), "layers": layers}))


def downgrade() -> None:
    """Drop what the upgrade added (designs stay in the design file format)."""
    op.drop_index("ix_epim_progress_study", "epim_progress")
    op.drop_table("epim_progress")
    with op.batch_alter_table("epim_trials") as batch:
        for column in ("fidelity", "source", "node", "accuracy_evaluated", "values",
                       "system_attrs", "params", "design_hash"):
            batch.drop_column(column)
    with op.batch_alter_table("epim_studies") as batch:
        for column in ("baseline", "best", "elapsed_s", "front_size", "network"):
            batch.drop_column(column)
