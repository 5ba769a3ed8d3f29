"""Alembic environment: runs on the connection `smartapp.store.migrate` hands over.

There is no alembic.ini: `smartapp db upgrade` configures Alembic in code
(`smartapp.store.migrate.alembic_config`).
"""

from __future__ import annotations

from alembic import context

from smartapp.store.schema import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    # SQLite alters tables by copying them ("batch" mode).
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
