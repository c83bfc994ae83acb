"""Alembic environment: runs our migrations on the URL that ``roster.storage.migrate`` set."""

from __future__ import annotations

from alembic import context

from roster.storage.engine import make_engine
from roster.storage.tables import metadata

config = context.config
url = config.get_main_option("sqlalchemy.url")
assert url is not None

engine = make_engine(url)
with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
engine.dispose()
