"""Checkers of notebook 04 (latent traversals)."""

__all__: list[str] = []
