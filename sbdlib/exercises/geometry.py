"""Checkers of notebook 05 (latent geometry)."""

__all__: list[str] = []
