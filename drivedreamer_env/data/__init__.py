"""The data layer: the one ``Clip`` type and the sources that produce it."""

from drivedreamer_env.data.clip import Clip

__all__ = ["Clip"]
