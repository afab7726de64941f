"""Virtual-time network simulator: many real sessions in one process, much faster than real time.

Start with :func:`run_simulation` and :class:`SimConfig`; ``arcade-p2p sim`` is the same
thing on the command line.
"""

from arcade_p2p.sim.config import Partition, SimConfig
from arcade_p2p.sim.metrics import SimResult
from arcade_p2p.sim.runner import run_simulation
from arcade_p2p.sim.topologies import Topology, build_topology

__all__ = ["Partition", "SimConfig", "SimResult", "Topology", "build_topology", "run_simulation"]
