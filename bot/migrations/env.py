"""Alembic environment: runs on the connection handed over by :func:`bot.migrations.upgrade`."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

connection = context.config.attributes.get("connection")
if connection is None:  # plain `alembic` use: -x url=...
    url = context.get_x_argument(as_dictionary=True).get("url", "")
    with create_engine(url).begin() as conn:
        context.configure(connection=conn, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
else:
    context.configure(connection=connection, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
