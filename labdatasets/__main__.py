"""``python -m labdatasets`` is the ``labdatasets`` command."""

import sys

from labdatasets.cli import main

sys.exit(main())
