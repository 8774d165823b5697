"""drivedreamer-env: a drivable driving world model (WorldDreamer STPT) and its ground-truth simulator.

Importing the package registers the Gymnasium environments; nothing heavy is imported here.
"""

from drivedreamer_env.registration import register_envs

__version__ = "0.1.0"

register_envs()
