"""The waiting room itself: pure domain logic with no web framework and no cloud SDK.

Everything outside ``core/adapters`` imports only the standard library (and PyJWT /
cryptography in :mod:`core.tokens`; :mod:`core.token_rules`, which the CloudFront gate bundles,
stays standard library only).
"""
