"""Derived reads: balances, history, preview, statements, reports, export and verify.

Internal, like every module in it: embedders import from ``cmrewards`` (the public
door re-exports what they need), so names here may move without notice.
"""
