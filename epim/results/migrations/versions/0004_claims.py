"""Claims counter; SQLite never reuses the id of a deleted study; a study's front by index.

``claims`` counts the claims of a study since it last stored a batch: a study whose runner
keeps dying before it stores anything (a job that exhausts memory) ends ``failed`` instead of
being claimed forever. On SQLite, ``epim_studies`` is rebuilt with ``AUTOINCREMENT`` so that
the id of a deleted study is never given to a new one (PostgreSQL's sequences never reuse ids).
The rebuild runs with foreign keys off (``results.upgrade`` turns them off around migrations
on SQLite), so dropping the old table cascades to no trial. ``ix_epim_trials_front`` finds a
study's front (and clears it before each batch) without reading every trial of the study.

Revision ID: 0004
Revises: 0003
Create Date: 2027-01-10
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add ``claims``; on SQLite rebuild ``epim_studies`` with ``AUTOINCREMENT``."""
    sqlite = op.get_bind().dialect.name == "sqlite"
    options = {"recreate": "always", "table_kwargs": {"sqlite_autoincrement": True}} \
        if sqlite else {}
    with op.batch_alter_table("epim_studies", **options) as batch:  # type: ignore[arg-type]
        batch.add_column(sa.Column("claims", sa.Integer(), nullable=False,
                                   server_default="0"))
    op.create_index("ix_epim_trials_front", "epim_trials", ["study_id", "on_front"])


def downgrade() -> None:
    """Drop ``claims`` and the index (SQLite keeps ``AUTOINCREMENT``: it is harmless)."""
    op.drop_index("ix_epim_trials_front", "epim_trials")
    with op.batch_alter_table("epim_studies") as batch:
        batch.drop_column("claims")
