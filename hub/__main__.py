"""``python -m hub`` is the ``ecoop`` command."""

from hub.cli import main

main()
