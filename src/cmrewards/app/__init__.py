"""Use cases: one unit of work per ``Clinic`` call, idempotency, and the import's write-behind.

Internal, like every module in it: embedders import from ``cmrewards`` (the public
door re-exports what they need), so names here may move without notice.
"""
