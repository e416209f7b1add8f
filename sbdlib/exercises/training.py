"""Checkers of notebook 03 (training a VAE)."""

__all__: list[str] = []
