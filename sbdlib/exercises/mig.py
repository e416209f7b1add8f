"""Checkers of notebook 06 (the MIG metric, step by step)."""

__all__: list[str] = []
