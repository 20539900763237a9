"""Signed tree heads: the Ed25519 key, checkpoints signed on demand, and their storage.

Entry point: notary.py (Notary.current); keys.py loads or creates the key, checkpoints.py is a checkpoint.
"""
