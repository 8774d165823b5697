"""``drivedreamer <verb>``: the command-line entry point.

One module per verb, each with ``add_parser(subparsers)`` and its handler: :mod:`~drivedreamer_env.cli.demo`,
:mod:`~drivedreamer_env.cli.counterfactual`, :mod:`~drivedreamer_env.cli.play`, :mod:`~drivedreamer_env.cli.data`,
:mod:`~drivedreamer_env.cli.train`, :mod:`~drivedreamer_env.cli.eval`, :mod:`~drivedreamer_env.cli.generate`,
:mod:`~drivedreamer_env.cli.bench`. Each handler imports what it needs when it runs, so ``--help`` and
unrelated verbs stay fast.
"""

from __future__ import annotations

import argparse
import sys

from drivedreamer_env.cli import bench, counterfactual, data, demo, generate, play, train
from drivedreamer_env.cli import eval as eval_verb

VERBS = (demo, counterfactual, play, data, train, eval_verb, generate, bench)  # in the order --help lists them


def build_parser() -> argparse.ArgumentParser:
    """The ``drivedreamer`` parser: every verb registers its own sub-parser."""
    p = argparse.ArgumentParser(prog="drivedreamer", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="verb", required=True)
    for verb in VERBS:
        verb.add_parser(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    """Run one verb; bad input is one clear line on stderr and exit status 2."""
    args = build_parser().parse_args(argv)
    if getattr(args, "threads", None):  # every heavy verb takes --threads
        import torch

        torch.set_num_threads(args.threads)
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError, RuntimeError) as err:
        # bad input: one clear line, no traceback
        print(f"drivedreamer: error: {err}", file=sys.stderr)
        return 2
