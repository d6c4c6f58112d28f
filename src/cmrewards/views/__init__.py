"""Derived reads: balances, history, preview, statements, reports, export and verify."""
