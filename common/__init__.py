"""Shared runtime of the dockhand Lambda functions: importable without Lambda or AWS."""

__version__ = "0.1.0"
