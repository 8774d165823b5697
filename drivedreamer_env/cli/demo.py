"""``drivedreamer demo``: the shipped model dreams left / straight / right from one held-out simulator scene.

The same handler as ``drivedreamer counterfactual`` (:mod:`drivedreamer_env.cli.counterfactual`), with defaults
that need no arguments.
"""

from __future__ import annotations

import argparse

from drivedreamer_env.cli.counterfactual import DEFAULT_BRANCHES, DEFAULT_SPEED, cmd_counterfactual
from drivedreamer_env.cli.env_options import add_env_options

DEMO_SEED = 100_007  # a simulator scene held out from the shipped model's training data (seeds 0-399)


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``demo``."""
    demo = sub.add_parser("demo", help="the demo: the shipped model dreams left/straight/right from one scene")
    demo.add_argument("--out", default="outputs/demo", help="output directory")
    demo.add_argument("--start", default=str(DEMO_SEED), help="simulator seed, clip source or image")
    demo.add_argument("--steps", type=int, default=40, help="steps per branch")
    demo.add_argument("--branches", default=DEFAULT_BRANCHES)
    demo.add_argument("--speed", type=float, default=DEFAULT_SPEED, help="normalised speed command (-0.2 = 8 m/s)")
    add_env_options(demo)
    demo.set_defaults(func=cmd_counterfactual)
