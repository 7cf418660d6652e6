"""Alembic environment: run with the connection handed over by pipeline.store (no alembic.ini needed)."""

from alembic import context

from pipeline.store.schema import Base

config = context.config
connection = config.attributes.get("connection")
if connection is None:  # pragma: no cover - `alembic` CLI use: build an engine from the URL
    from sqlalchemy import create_engine

    connection = create_engine(str(config.get_main_option("sqlalchemy.url"))).connect()

context.configure(
    connection=connection, target_metadata=Base.metadata, render_as_batch=connection.dialect.name == "sqlite"
)
with context.begin_transaction():
    context.run_migrations()
