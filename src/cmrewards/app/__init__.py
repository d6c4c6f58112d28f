"""Use cases: one unit of work per ``Clinic`` call, idempotency, and the import's write-behind."""
