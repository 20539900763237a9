"""The Merkle tree over the log (RFC 9162): hashing and subtree nodes, proofs, and whole-log verification.

Entry points: merkle.py (the tree), proofs.py (inclusion and consistency), integrity.py (GET /audit/verify).
"""
