"""The orchestrator: interprets workflow templates, drives their runs durably, and answers for their results.

Start at `server.py` (how the parts are wired) and `servicer.py` (the RPCs); a run goes
servicer -> runs/replica.py -> runs/runner.py -> tasks/ -> runs/recorder.py -> storage/ and the
audit service. Sub-packages: templates/ (what a workflow is), runs/ (driving runs), storage/
(PostgreSQL), impact/ (the million-citizen fan-out), schemes/ (versioned rule documents), reviews/
(review tasks of runs waiting for a person), tasks/ (the task types). docs/architecture.md follows
both data paths file by file.
"""
