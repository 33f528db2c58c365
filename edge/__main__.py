"""``python -m ser_edge``: the ser-edge command line."""

from ser_edge.cli import main

main()
