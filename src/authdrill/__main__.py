"""``python -m authdrill``: the same as the ``authdrill`` command."""

import sys

from authdrill.cli import main

sys.exit(main())
