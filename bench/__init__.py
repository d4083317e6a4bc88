"""The benchmark suite: ``python -m bench run [--quick] [--visitors N] [--only NAME]``.

See docs/performance.md for what each benchmark measures and the last run's numbers.
"""
