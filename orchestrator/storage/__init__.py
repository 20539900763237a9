"""The orchestrator's PostgreSQL schema: tables and migrations, and one store per table.

Entry point: tables.py (the schema); instances.py, step_journal.py, leases.py and
appeal_records.py hold the SQL, and run_list.py the run list's; statements.py runs it, one round trip a statement.
"""
