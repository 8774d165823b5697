"""Writing a planner evaluation: the result JSON, a markdown table, a PNG scatter of dream against simulator
score (one labelled point per planner), and the per-episode record with the run's provenance; all atomic."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from drivedreamer_env.io_utils import write_bytes, write_json
from drivedreamer_env.planning.evaluate import Evaluation

TABLE_METRICS = (
    ("score", "score", "{:.3f}"),
    ("route_completion", "completion", "{:.0%}"),
    ("offroad_rate", "off-road", "{:.0%}"),
    ("collision_rate", "collision", "{:.0%}"),
    ("comfort", "comfort", "{:.2f}"),
    ("lateral_deviation_mean_m", "lat. dev. [m]", "{:.2f}"),
    ("failure_rate", "failed", "{:.0%}"),
)


def _fmt(value: Any, pattern: str) -> str:
    return "n/a" if value is None else pattern.format(value)


def markdown_table(result: Evaluation, header: str = "") -> str:
    """A table of the headline metrics per planner, each as ``sim / dream`` where both worlds ran."""
    worlds = [w for w in ("sim", "dream") if w in result.worlds]
    lines = [header, ""] if header else []
    if len(worlds) == 2:
        agree = {"spearman_rho": result.spearman_rho, "kendall_tau": result.kendall_tau, "score_mae": result.score_mae}
        lines += [", ".join(f"{k} = {_fmt(v, '{:.3f}')}" for k, v in agree.items()), ""]
    lines.append(f"Each cell: {' / '.join(worlds)}.")
    lines.append("")
    lines.append("| planner | " + " | ".join(t for _, t, _ in TABLE_METRICS) + " |")
    lines.append("|---" * (len(TABLE_METRICS) + 1) + "|")
    for name in result.names:
        cells = [" / ".join(_fmt(result.summaries[w][name][m], p) for w in worlds) for m, _, p in TABLE_METRICS]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    if result.per_metric_spearman:
        lines += ["", "Spearman's rho of dream against simulator, per metric:", ""]
        lines += [f"- {k}: {_fmt(v, '{:.3f}')}" for k, v in result.per_metric_spearman.items()]
    return "\n".join(lines) + "\n"


def scatter_png(result: Evaluation) -> bytes:
    """PNG bytes: dream score against simulator score, one labelled point per planner, and the diagonal."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sim = [result.summaries["sim"][n]["score"] for n in result.names]
    dream = [result.summaries["dream"][n]["score"] for n in result.names]
    fig, ax = plt.subplots(figsize=(6, 6), dpi=110)
    ax.plot([0, 1], [0, 1], color="0.7", lw=1, zorder=0)
    ax.scatter(sim, dream, s=30, color="tab:blue")
    placed: list[tuple[float, float]] = []
    for name, x, y in zip(result.names, sim, dream, strict=True):
        near = sum(abs(x - px) < 0.04 and abs(y - py) < 0.04 for px, py in placed)  # stack labels of close points
        placed.append((x, y))
        ax.annotate(name, (x, y), textcoords="offset points", xytext=(4, 4 - 10 * near), fontsize=8)
    rho = "n/a" if result.spearman_rho is None else f"{result.spearman_rho:.3f}"
    ax.set(xlim=(-0.05, 1.05), ylim=(-0.05, 1.05), xlabel="simulator score (PDMS-like)", ylabel="dream score",
           title=f"planners: dream vs simulator (Spearman rho {rho})")  # fmt: skip
    ax.grid(alpha=0.3)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def write_results(result: Evaluation, out: str | Path, run: dict[str, Any]) -> list[Path]:
    """Write ``out`` (the JSON), ``<stem>.md``, ``<stem>.png`` (both worlds only) and ``<stem>_episodes.json``
    (``run``, e.g. command and provenance, plus every episode's metrics). Returns the paths written."""
    out = Path(out)
    if out.suffix != ".json":
        raise ValueError(f"--out must be a .json file, got {out}")
    paths = [out, out.with_suffix(".md"), out.with_name(f"{out.stem}_episodes.json")]
    write_json(out, result.to_json())
    settings = ", ".join(f"{k} {v}" for k, v in run.get("settings", {}).items())
    header = f"# Planner evaluation: dream vs simulator\n\n`{run.get('command', '')}`\n\n{settings}"
    write_bytes(paths[1], markdown_table(result, header).encode())
    episodes = {w: {n: [e.to_dict() for e in eps] for n, eps in per.items()} for w, per in result.episodes.items()}
    write_json(paths[2], {**run, "episodes": episodes})
    if set(result.worlds) == {"dream", "sim"}:
        paths.append(out.with_suffix(".png"))
        write_bytes(paths[-1], scatter_png(result))
    return paths
