"""The domain: pure CM rules and the records they act on (no database, no CLI, no I/O).

Internal, like every module in it: embedders import from ``cmrewards`` (the public
door re-exports what they need), so names here may move without notice.
"""
