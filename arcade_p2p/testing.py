"""Test helpers for games built on arcade-p2p.

How this works: :func:`assert_deterministic` runs the determinism checker
(:func:`arcade_p2p.check.check_game`) inside a test and fails it with the checker's
report (first divergent tick, differing fields, cause) when the game is not
deterministic. Set ``ARCADE_HEADLESS=1`` before Arcade is first imported (for example at
the top of ``conftest.py``) so that windows need no display.
"""

from __future__ import annotations

from arcade_p2p.check import DEFAULT_SEED, DEFAULT_TICKS, CheckReport, check_game

__all__ = ["assert_deterministic"]


def assert_deterministic(
    game: str | type,
    *,
    ticks: int = DEFAULT_TICKS,
    seed: int = DEFAULT_SEED,
    second_process: bool = True,
) -> CheckReport:
    """Fail the calling test unless ``game`` is deterministic.

    Args:
        game: ``"module[:Class]"`` or the class (a ``SymmetricWindow`` or ``StateApp``
            subclass; the second process needs one importable by name).
        ticks: Ticks to simulate.
        seed: Seed of the input and of the forced rollbacks.
        second_process: Also compare with a run under another ``PYTHONHASHSEED``.

    Returns:
        The checker's report, for further assertions.

    Raises:
        AssertionError: The game is not deterministic (the message is the report).
    """
    __tracebackhide__ = True  # pytest shows the caller's line, not this one
    report = check_game(game, ticks=ticks, seed=seed, second_process=second_process)
    if not report.deterministic:
        raise AssertionError(report.summary())
    return report
