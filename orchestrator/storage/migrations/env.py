"""Alembic environment: migrations run on the connection civicflow.database.run_migrations hands over."""

from alembic import context

from civicflow.database import run_migrations_online

run_migrations_online(context)
