"""Token shards for a world-model ``--data`` spec: used as they are, or encoded once and cached.

``tokens:DIR`` or a DIR of token shards is read as it is. Any clip source (``nuscenes:DIR`` from
``drivedreamer data nuscenes``, ``sim:DIR``, a video, ...) is encoded with a checkpoint's tokenizer into
``<clip shard dir>/tokens/<key>/`` (or ``<fallback dir>/tokens/<key>/`` for sources that are not shard
directories, such as a nuScenes dataroot), where the key hashes the tokenizer's tensors and config, the spec and
the source's manifest: a new tokenizer or re-written clips get new tokens, an unchanged pair reuses them.

Under multi-process launchers that start every rank at once (torchrun, SLURM) only global rank 0 encodes; the
others wait for the finished directory, which appears atomically (written aside, then renamed).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from drivedreamer_env.data.shards import MANIFEST
from drivedreamer_env.data.tokens import FORMAT as TOKENS_FORMAT

WAIT_FOR_TOKENS_S = 6 * 3600.0  # how long a non-zero rank waits for rank 0 to tokenize [s]


def _manifest_format(directory: Path) -> str | None:
    try:
        return json.loads((directory / MANIFEST).read_text()).get("format")
    except (OSError, ValueError, AttributeError):
        return None


def _global_rank() -> int:
    from lightning.pytorch.utilities.rank_zero import rank_zero_only

    return int(getattr(rank_zero_only, "rank", 0))  # from RANK / LOCAL_RANK / SLURM_PROCID before a Trainer exists


def cache_key(spec: str, tokenizer_checkpoint: str | Path, source_manifest: Path | None) -> str:
    """12 hex digits of SHA-256 over the tokenizer tensors and config section, the spec and the source manifest."""
    ckpt = Path(tokenizer_checkpoint)
    digest = hashlib.sha256()
    digest.update((ckpt / "tokenizer.safetensors").read_bytes())
    config = json.loads((ckpt / "config.json").read_text()).get("tokenizer")
    digest.update(json.dumps(config, sort_keys=True).encode())
    digest.update(spec.encode())
    if source_manifest is not None and source_manifest.is_file():
        digest.update(source_manifest.read_bytes())
    return digest.hexdigest()[:12]


def resolve_token_dir(
    spec: str,
    tokenizer_checkpoint: str | Path | None,
    fallback_dir: str | Path,
    progress: Callable[[int], None] | None = None,
) -> Path:
    """The token-shard directory that ``spec`` names or that its clips are encoded into.

    Args:
        spec: ``tokens:DIR``, a token-shard DIR, or any clip source spec (see ``sources.spec.open_source``).
        tokenizer_checkpoint: checkpoint whose tokenizer encodes a clip source (e.g. the ``--init`` checkpoint).
        fallback_dir: where the cache goes when the source is not a clip-shard directory (e.g. the run's --out).
        progress: called with 1 per clip encoded.

    Raises:
        ValueError: a clip source without a tokenizer checkpoint.
        TimeoutError: a non-zero rank waited ``WAIT_FOR_TOKENS_S`` for rank 0 in vain.
    """
    kind, _, rest = spec.partition(":")
    if kind == "tokens" and rest:
        return Path(rest)
    if _manifest_format(Path(spec)) == TOKENS_FORMAT:
        return Path(spec)
    if tokenizer_checkpoint is None:
        raise ValueError(
            f"--data {spec!r} is a clip source: pass --init CHECKPOINT (its tokenizer encodes the clips) or "
            f"encode them first with `drivedreamer data tokenize`"
        )
    from drivedreamer_env.data.shards import ShardSource
    from drivedreamer_env.sources.spec import open_source

    source = open_source(spec)
    shard_dir = source.directory if isinstance(source, ShardSource) else None
    key = cache_key(spec, tokenizer_checkpoint, shard_dir / MANIFEST if shard_dir else None)
    target = (shard_dir or Path(fallback_dir)) / "tokens" / key
    if _manifest_format(target) == TOKENS_FORMAT:
        return target
    if _global_rank() != 0:
        return _wait_for(target)
    _tokenize(spec, Path(tokenizer_checkpoint), target, progress)
    return target


def _wait_for(target: Path) -> Path:
    deadline = time.monotonic() + WAIT_FOR_TOKENS_S
    while _manifest_format(target) != TOKENS_FORMAT:
        if time.monotonic() > deadline:
            raise TimeoutError(f"rank 0 did not finish tokenizing into {target} within {WAIT_FOR_TOKENS_S:.0f} s")
        time.sleep(5.0)
    return target


def _tokenize(spec: str, checkpoint: Path, target: Path, progress: Callable[[int], None] | None) -> None:
    from drivedreamer_env.models.checkpoint import load_tokenizer
    from drivedreamer_env.sources.tokenize import tokenize_source

    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.parent / f".{target.name}.partial-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        tokenize_source(load_tokenizer(checkpoint), spec, staging, str(checkpoint), progress=progress)
        try:
            os.replace(staging, target)
        except OSError:
            if _manifest_format(target) != TOKENS_FORMAT:  # not another run that finished first
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
