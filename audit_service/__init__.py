"""Owner of the append-only audit trail: appends entries and lists an instance's entries in order."""
