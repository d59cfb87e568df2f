"""A study's phase: what its run is doing now, for the page and the terminal.

``phase`` is one of ``epim.search.PHASES`` (``dense_start``, ``references``, ``solving``,
``training``, ...) and ``phase_detail`` one line on it (why an exact engine fell back to a
genetic sampler, how many hand designs are evaluated). Both are empty for studies stored
before this revision and are written by the runner from the first second of a run.

Revision ID: 0005
Revises: 0004
Create Date: 2027-01-20
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add ``phase`` and ``phase_detail`` to ``epim_studies`` (nullable: nothing to fill)."""
    with op.batch_alter_table("epim_studies") as batch:
        batch.add_column(sa.Column("phase", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("phase_detail", sa.String(length=300), nullable=True))


def downgrade() -> None:
    """Drop the two columns."""
    with op.batch_alter_table("epim_studies") as batch:
        batch.drop_column("phase_detail")
        batch.drop_column("phase")
