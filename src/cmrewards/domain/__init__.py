"""The domain: pure CM rules and the records they act on (no database, no CLI, no I/O)."""
