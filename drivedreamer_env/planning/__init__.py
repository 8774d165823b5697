"""Closed-loop planner evaluation in the dream, checked against the ground-truth simulator.

The planner protocol (:mod:`~drivedreamer_env.planning.protocol`), the tracking controller, the baseline planners
(route oracle with and without steering noise, a camera lane keeper, a behaviour-cloning planner, straight,
drift, random, stop), the per-episode metrics and :func:`~drivedreamer_env.planning.evaluate.evaluate_planner`.
"""
