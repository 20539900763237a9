"""`make run` on one machine: an embedded PostgreSQL unless DATABASE_URL is set, and every service as a process.

Entry point: launcher.py (run); settings.py is what it reads, process_plan.py the processes and
their environment, supervisor.py starts, watches, restarts (restart_policy.py) and stops them.
credentials.py lays the same credentials out for containers, one directory per service (compose).
"""
