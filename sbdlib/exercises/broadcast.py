"""Checkers of notebook 02 (the Spatial Broadcast decoder)."""

__all__: list[str] = []
