"""Alembic environment of the audit service: migrates on the connection run_migrations hands over."""

from __future__ import annotations

from alembic import context

from civicflow.database import run_migrations_online

run_migrations_online(context)
