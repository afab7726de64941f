"""The determinism checker: ``arcade-p2p check MODULE[:CLASS]`` and :func:`check_game`.

How this works: see :mod:`arcade_p2p.check.checker` (the three runs and their
comparison), :mod:`arcade_p2p.check.driver` (one run: virtual time, input, the
``autopilot`` hook), :mod:`arcade_p2p.check.worker` (the second process) and
:mod:`arcade_p2p.check.diagnosis` (naming the cause). Nothing here imports Arcade until a
window game is loaded, so registering the command stays cheap.
"""

from arcade_p2p.check.checker import DEFAULT_SEED, DEFAULT_TICKS, CheckReport, check_game
from arcade_p2p.check.driver import AUTOPILOT_METHOD

__all__ = ["AUTOPILOT_METHOD", "DEFAULT_SEED", "DEFAULT_TICKS", "CheckReport", "check_game"]
