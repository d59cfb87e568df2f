"""One vocabulary for a study's counters: ``epim_studies`` names them as ``epim_progress`` does.

``completed_trials``, ``feasible_trials`` and ``failed_trials`` become ``completed``,
``feasible`` and ``failed`` (the fields of ``epim.search.Counters`` and the columns
``epim_progress`` has had since 0001). The columns are renamed in place, so every stored count
is kept: ``ALTER TABLE ... RENAME COLUMN`` on PostgreSQL and on SQLite (3.25 or later), with no
table rebuild.

Revision ID: 0006
Revises: 0005
Create Date: 2027-02-01
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

#: Old name -> new name.
RENAMED = (("completed_trials", "completed"), ("feasible_trials", "feasible"),
           ("failed_trials", "failed"))


def upgrade() -> None:
    """Rename the three counters of ``epim_studies`` (data kept)."""
    for old, new in RENAMED:
        op.execute(f"ALTER TABLE epim_studies RENAME COLUMN {old} TO {new}")


def downgrade() -> None:
    """Give the three counters their old names back (data kept)."""
    for old, new in RENAMED:
        op.execute(f"ALTER TABLE epim_studies RENAME COLUMN {new} TO {old}")
