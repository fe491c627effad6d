"""``python -m mdsnn_search.cli``: the same as the ``mdsnn-search`` command."""

import sys

from mdsnn_search.cli import main

sys.exit(main())
