"""Driving runs: start, step, record, finish, hand over on shutdown, and resume after a crash.

Entry point: replica.py (Replica.execute / submit / watch); runner.py steps a run, recorder.py
journals and audits its attempts, recovery.py resumes a run another replica left, outages.py waits out
a dependency that is down.
"""
