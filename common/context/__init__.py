"""Notes, threads, snapshots, redaction and the rehydrate renderer."""
