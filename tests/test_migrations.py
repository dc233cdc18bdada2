"""Alembic migrations: the schema they build equals the stores' models, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import MetaData, inspect

from bot.db import make_engine
from bot.migrations import current, head, upgrade

from .conftest import run_cli
from .test_postgres import pg_url  # noqa: F401 - the PostgreSQL server fixture


def _models() -> MetaData:
    from bot.channels import auth
    from bot.dialogue import store as tracker
    from handoff import store as handoff

    md = MetaData()
    for table in [*tracker.metadata.tables.values(), *handoff.metadata.tables.values(),
                  *auth.metadata.tables.values()]:
        table.to_metadata(md)
    return md


def _diff(url: str) -> list:
    with make_engine(url).connect() as conn:
        return list(compare_metadata(MigrationContext.configure(conn), _models()))


def test_cli_upgrade_builds_the_models_schema_on_sqlite(tmp_path: Path) -> None:
    proc = run_cli("db", "upgrade", env={"BANKBOT_DATA_DIR": str(tmp_path)})
    assert proc.returncode == 0, proc.stderr.decode()
    assert f"revision {head()}" in proc.stdout.decode()
    assert _diff(f"sqlite:///{tmp_path / 'bankbot.db'}") == []
    again = run_cli("db", "current", env={"BANKBOT_DATA_DIR": str(tmp_path)})
    assert f"database at revision {head()}" in again.stdout.decode()


def test_database_made_before_migrations_is_stamped_then_upgraded(tmp_path: Path) -> None:
    from bot.dialogue.store import TrackerStore
    from handoff.store import HandoffStore

    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    store = TrackerStore(engine)  # create_all, as releases before migrations did
    HandoffStore(engine)
    conv = store.load("old-user")
    store.save_turn(conv, [("user", {"text": "你好"})])
    assert current(engine) is None
    assert upgrade(engine) == head()
    assert [e["text"] for e in TrackerStore(engine).events("old-user")] == ["你好"]


def test_upgrade_on_postgres_is_idempotent(pg_url: str) -> None:  # noqa: F811
    engine = make_engine(pg_url)
    assert upgrade(engine) == head()
    assert upgrade(engine) == head()
    assert "alembic_version" in inspect(engine).get_table_names()
    assert _diff(pg_url) == []
