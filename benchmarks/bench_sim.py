"""Simulator frames per second at 64x128 and 128x256 (same as ``drivedreamer bench --only sim``).

Usage: python benchmarks/bench_sim.py [--out benchmarks/results/sim.json]
"""

from drivedreamer_env.cli import main

if __name__ == "__main__":
    import sys

    raise SystemExit(main(["bench", "--only", "sim", *sys.argv[1:]]))
