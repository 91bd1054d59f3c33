"""``python -m framework`` runs the ``tapeline`` command."""

from framework.cli import run

run()
