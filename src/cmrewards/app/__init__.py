"""Use cases: ``Clinic`` (one unit of work per call), idempotency, recording and the import.

Internal, like every module in it: embedders import from ``cmrewards`` (the public
door re-exports what they need), so names here may move without notice.
"""
