"""``python -m framework`` runs the ``tapeline`` command."""

import sys

from framework.cli import main

sys.exit(main())
