"""The audit service: owns the append-only, tamper-evident log of every step of every run, and proves it.

Start at server.py (wiring) and servicer.py (the RPCs). log/ stores entries (group commit, tables,
migrations), tree/ is the Merkle tree and its proofs, signing/ the key and the signed checkpoints;
verify.py is the auditor's offline verifier (`python -m audit_service.verify`).
"""
