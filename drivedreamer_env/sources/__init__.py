"""The sources layer: one ``open_source(spec)`` over every clip source, tokenization of a source, the token cache.

- ``spec``: :func:`open_source` parses a ``--data`` spec (``sim:DIR``, ``video:PATH?...``, ``nuscenes:ROOT?...``,
  a bare DIR or video FILE) and returns a shard, video or nuScenes source; the nuScenes reader is imported only
  for a ``nuscenes:`` dataroot.
- ``tokenize``: :func:`~drivedreamer_env.sources.tokenize.tokenize_source` encodes a source's clips once into
  token shards (:mod:`drivedreamer_env.data.tokens`).
- ``token_cache``: :func:`~drivedreamer_env.sources.token_cache.resolve_token_dir` finds or fills the cached
  token shards of a spec for a tokenizer checkpoint.
"""

from drivedreamer_env.sources.spec import ACCEPTED_FORMS, ClipSource, DataSpecError, open_source

__all__ = ["ACCEPTED_FORMS", "ClipSource", "DataSpecError", "open_source"]
