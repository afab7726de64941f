"""Test-suite settings: property tests are deterministic by default.

Hypothesis draws its examples from a fixed seed derived from each test (``derandomize``)
and keeps no example database, so every run (locally and in CI) tries the same inputs and
a failure reproduces exactly, as the design asks of every test tier. To search with fresh
random inputs instead, run ``python -m pytest --hypothesis-profile explore``.
"""

from __future__ import annotations

from hypothesis import settings

settings.register_profile("deterministic", derandomize=True, database=None)
settings.register_profile("explore", derandomize=False)
settings.load_profile("deterministic")
