"""The data layer: the one ``Clip`` type, clip and token shards, video and frame-folder sources, windowing."""

from drivedreamer_env.data.clip import Clip

__all__ = ["Clip"]
