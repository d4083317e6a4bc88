"""Implementations of :mod:`core.ports`. Only this package talks to storage libraries."""
