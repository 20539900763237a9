"""Scheme versions: stored (store.py), changed and read with audit and access checks (service.py), seeded
from schemes/ (seeding.py), and served over gRPC (rpcs.py). model.py is the one shape of a version."""
