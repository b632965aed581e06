"""ccnn {train,evaluate,info} as `python -m ccnn ...` -- see ccnn.cli."""
import sys

from .cli import main

sys.exit(main())
