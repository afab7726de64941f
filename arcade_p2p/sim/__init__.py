"""Virtual-time network simulator: many real sessions in one process, much faster than real time."""

from arcade_p2p.sim.config import SimConfig

__all__ = ["SimConfig"]
