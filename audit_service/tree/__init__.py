"""The Merkle tree over the log (RFC 9162): hashing and subtree nodes, proofs, and whole-log verification.

Entry points: merkle.py (the tree), proofs.py (inclusion and consistency), integrity.py (one verification of
the whole log); GET /audit/verify runs it through shared_verification.py (single flight, cache) in the process
of verification_worker.py.
"""
