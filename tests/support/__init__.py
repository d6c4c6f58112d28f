"""Helpers the tests of every layer share (importable because ``tests`` is on the path)."""
