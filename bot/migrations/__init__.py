"""Schema migrations (Alembic) of the tracker store and the handoff tables, for SQLite and PostgreSQL.

``bankbot db upgrade`` applies them; the embedded mode (SQLite) applies them on start. A database created
before migrations existed (tables made by ``create_all``) is stamped with the first revision, then upgraded.
On PostgreSQL an advisory lock makes concurrent upgrades from several instances safe.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, Engine

HERE = Path(__file__).resolve().parent
BASELINE = "0001"
#: arbitrary key of the PostgreSQL advisory lock held while migrating
_PG_LOCK_KEY = 4_250_013


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic config pointing at these scripts (no alembic.ini needed)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def head() -> str:
    """The newest revision."""
    rev = ScriptDirectory.from_config(alembic_config()).get_current_head()
    return str(rev)


def current(engine: Engine) -> str | None:
    """The database's revision (None: never migrated)."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> str | None:
    """Bring the schema to ``revision``; returns the revision now applied."""
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
        cfg = alembic_config(conn)
        names = set(inspect(conn).get_table_names())
        if "alembic_version" not in names and "conversations" in names:
            command.stamp(cfg, BASELINE)  # made by create_all before migrations existed
        command.upgrade(cfg, revision)
    return current(engine)
