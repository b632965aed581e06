"""python -m ccnn {train,evaluate,info} -- see ccnn.cli."""
import sys

from .cli import main

sys.exit(main())
