"""Checkers of notebook 01 (the datasets)."""

__all__: list[str] = []
