"""Deliberately broken games: each hides one determinism trap the checker must catch.

Every module defines one small :class:`~arcade_p2p.window.SymmetricWindow`; its docstring
names the trap. ``tests/test_check.py`` asserts that ``arcade-p2p check`` fails on each
within 60 ticks and names the field or the cause.
"""
