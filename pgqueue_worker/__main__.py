"""`python -m pgqueue_worker MODULE:ATTR [flags]`: the same as `pgqueue worker` (the
supervisor starts its worker processes this way)."""

import sys

from .cli import main

sys.exit(main(sys.argv[1:]))
