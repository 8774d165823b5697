"""Several ``--data`` sources in one run: a repeated flag or a comma list, each with an optional weight.

Forms (one ``--data`` value may hold several)::

    --data sim:out/sim --data video:drive.mp4        two sources, sampled in proportion to their size
    --data sim:out/sim,video:drive.mp4               the same, as a comma list
    --data sim:out/sim@0.3 --data video:drive.mp4@0.7
                                                     weights: the share of training samples from each source

A comma splits sources only where what follows reads as a spec of its own (``sim:``, ``video:``, ``tokens:``,
``shards:``, ``nuscenes:`` or an existing path), so a caption such as ``text=a road, at night`` stays whole. A
weight is a trailing ``@NUMBER``; give one to every source or to none.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from drivedreamer_env.sources.spec import DataSpecError

PREFIXES = ("sim:", "shards:", "video:", "tokens:", "nuscenes:")


@dataclass(frozen=True)
class DataSpec:
    """One ``--data`` source and its sampling weight (None: in proportion to its size)."""

    spec: str
    weight: float | None = None

    def __str__(self) -> str:
        return self.spec if self.weight is None else f"{self.spec}@{self.weight:g}"


def _starts_a_spec(piece: str) -> bool:
    piece = piece.strip()
    if piece.startswith(PREFIXES):
        return True
    base = piece.partition("?")[0]
    head, at, _ = base.rpartition("@")
    return any(Path(c).exists() for c in (base, head if at else "") if c)


def _split_commas(value: str) -> list[str]:
    pieces: list[str] = []
    for piece in value.split(","):
        if pieces and not _starts_a_spec(piece):
            pieces[-1] += "," + piece  # part of the previous spec (a caption with a comma)
        else:
            pieces.append(piece.strip())
    return [p for p in pieces if p]


def _weighted(text: str) -> DataSpec:
    spec, at, weight = text.rpartition("@")
    if not at:
        return DataSpec(text)
    try:
        w = float(weight)
    except ValueError:
        return DataSpec(text)  # an '@' inside a path, not a weight
    if not spec:
        raise DataSpecError(f"--data {text!r}: a weight needs a source before it, e.g. sim:DIR@0.3")
    if not w > 0:
        raise DataSpecError(f"--data {text!r}: weight {weight} must be a positive number, e.g. sim:DIR@0.3")
    return DataSpec(spec, w)


def parse_data_specs(values: str | Sequence[str]) -> list[DataSpec]:
    """The sources of one or more ``--data`` values (forms in the module docstring).

    Args:
        values: the ``--data`` values as given (a repeated flag gives several).

    Returns:
        The sources in the order given.

    Raises:
        DataSpecError: no source, a weight that is not positive, or weights on some sources but not all.
    """
    values = [values] if isinstance(values, str) else list(values)
    specs = [_weighted(piece) for value in values for piece in _split_commas(value)]
    if not specs:
        raise DataSpecError("--data is empty; give a source such as sim:DIR or video:FILE.mp4")
    weighted = [s.weight is not None for s in specs]
    if any(weighted) and not all(weighted):
        missing = [s.spec for s in specs if s.weight is None]
        raise DataSpecError(
            f"--data: weights are given for some sources but not for {missing}; give every source a weight "
            f"(e.g. sim:DIR@0.3 video:F.mp4@0.7) or none (sampled in proportion to size)"
        )
    return specs


def source_shares(specs: Sequence[DataSpec], sizes: Sequence[int]) -> list[float]:
    """Each source's share of the training samples: its weight, or its size when no weights are given."""
    raw = [float(n) if s.weight is None else s.weight for s, n in zip(specs, sizes, strict=True)]
    total = sum(raw)
    return [r / total for r in raw] if total > 0 else [1.0 / len(raw)] * len(raw)


def describe(specs: Sequence[DataSpec]) -> str:
    """The sources as one ``--data`` string, for logs and meta.json."""
    return ",".join(str(s) for s in specs)
