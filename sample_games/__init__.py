"""Runnable arcade-p2p games, one module each: ``python -m sample_games.NAME --help``.

* :mod:`sample_games.moving_rect` -- the paper's moving rectangle, steered with the arrows.
* :mod:`sample_games.physics_balls` -- pymunk balls: click to drop one, keys push them all.
* :mod:`sample_games.whiteboard` -- draw together in your own colour; Ctrl-Z, clear-all.
* :mod:`sample_games.physics_arena` -- steer a puck, shove 116 crates into the goals, score.

Each takes ``--autopilot SEED`` to play by itself.
"""
