"""``python -m epim.cli``."""

from epim.cli import main

main()
