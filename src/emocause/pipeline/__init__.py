"""Pipelines: the trained models put together for a caller (analysis now; responses in the product)."""
