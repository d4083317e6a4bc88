"""The waiting room itself: pure domain logic with no web framework and no cloud SDK.

Everything outside ``core/adapters`` imports only the standard library (and PyJWT /
cryptography in :mod:`core.tokens`).
"""
