"""One nuScenes package: the on-disk schema, a reader (the official devkit) and a writer (simulator export).

- ``schema``: the v1.0 tables, standard vocabularies and devkit scene names that reader and writer share.
- ``reader``: :class:`~drivedreamer_env.nuscenes.reader.NuScenesSource`, a dataroot read through the devkit
  (imported lazily, an optional extra) as ``Clip`` s.
- ``writer``: :func:`~drivedreamer_env.nuscenes.writer.export_nuscenes`, simulator episodes written in the
  nuScenes on-disk format (plain JSON, JPEG and PNG; never imports the devkit).
- ``shards``: a reader's clips written as clip shards with per-scene action statistics.
  (The ``drivedreamer data nuscenes`` verb lives in ``drivedreamer_env.cli.nuscenes``.)

Nothing is imported here, so ``import drivedreamer_env.nuscenes.schema`` stays light.
"""
