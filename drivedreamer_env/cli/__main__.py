"""``python -m drivedreamer_env.cli <verb>``: the same as the ``drivedreamer`` script."""

import sys

from drivedreamer_env.cli import main

sys.exit(main())
