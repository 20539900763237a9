"""Owner of the tamper-evident audit log: appends entries as leaves of a Merkle tree, signs checkpoints, proves."""
