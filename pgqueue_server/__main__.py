"""`python -m pgqueue_server run [DSN]`: the same as `pgqueue run`."""

import sys

from .cli import main

sys.exit(main())
