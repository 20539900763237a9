"""`make run` on one machine: an embedded PostgreSQL unless DATABASE_URL is set, and every service as a process.

Entry point: launcher.py (run), after ports.py has found every port free; settings.py is what it reads,
process_plan.py the processes and their environment, postgres_process.py the embedded PostgreSQL's,
supervisor.py starts, watches, restarts (restart_policy.py) and stops them in dependency order;
terminal.py keeps a terminal's Ctrl-C for the launcher alone.
credentials.py lays the same credentials out for containers, one directory per service (compose).
"""
