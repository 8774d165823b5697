"""Closed-loop planner evaluation in the dream, checked against the ground-truth simulator.

The planner protocol (:mod:`~drivedreamer_env.planning.protocol`), the tracking controller, the baseline planners
(route oracle with and without steering noise, a camera lane keeper, a behaviour-cloning planner, straight,
drift, random, stop), the per-episode metrics and :func:`~drivedreamer_env.planning.evaluate.evaluate_planner`.
"""

from drivedreamer_env.planning.evaluate import evaluate_planner, evaluate_planners
from drivedreamer_env.planning.protocol import Action, PlannerInput, Trajectory

__all__ = ["Action", "PlannerInput", "Trajectory", "evaluate_planner", "evaluate_planners"]
