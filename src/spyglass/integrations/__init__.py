"""Instrumentations of third-party libraries."""
