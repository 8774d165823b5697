"""Dream speed: env steps/s, vector throughput, MFU, MaskGIT vs AR, KV cache, peak RSS
(same as ``drivedreamer bench --only world-model``).

Usage: python benchmarks/bench_world_model.py [--out benchmarks/results/world_model_bench.json]
"""

from drivedreamer_env.cli import main

if __name__ == "__main__":
    import sys

    raise SystemExit(main(["bench", "--only", "world-model", *sys.argv[1:]]))
