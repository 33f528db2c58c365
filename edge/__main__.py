"""``python -m edge``: the ser-edge command line."""
from edge.cli import main

main()
