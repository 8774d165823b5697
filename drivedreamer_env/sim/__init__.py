"""ProcDrive: the procedural ground-truth driving simulator (data source, referee, nuScenes-format writer)."""

from drivedreamer_env.sim.config import SimConfig
from drivedreamer_env.sim.simulator import Simulator, StepResult

__all__ = ["SimConfig", "Simulator", "StepResult"]
