"""``python -m wisgate`` is the ``wisgate`` command."""

from wisgate.cli import main

main()
