"""Driving runs: start, step, record, finish, hand over on shutdown, resume after a crash, cancel and retry.

Entry point: replica.py (Replica.execute / submit / watch); runner.py steps a run, recorder.py
journals and audits its attempts, recovery.py resumes a run another replica left, outages.py waits out
a dependency that is down; cancellation.py cancels a run, retries.py retries one.
"""
