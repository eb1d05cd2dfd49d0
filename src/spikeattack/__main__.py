"""``python -m spikeattack``: the ``spikeattack`` command."""

import sys

from .cli.main import main

sys.exit(main())
