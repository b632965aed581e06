"""warn(): warnings.warn reported at the user's line.

A warning ccnn raises deep inside `fit` or `load_data` should point at the
call the user wrote, not at an internal wrapper, and a fixed `stacklevel`
breaks whenever the call path inside ccnn changes.  So the level is counted:
the first frame whose code lies outside the ccnn package (pandas'
find_stack_level does the same).
"""
from __future__ import annotations

import os
import sys
import warnings
from typing import Type

_PACKAGE = os.path.dirname(os.path.abspath(__file__)) + os.sep


def warn(message: str, category: Type[Warning] = UserWarning) -> None:
    """warnings.warn(message, category) with the stacklevel of the first
    caller outside ccnn."""
    frame = sys._getframe(1)   # warn's caller: stacklevel 2
    level = 2
    while frame.f_back is not None and os.path.abspath(frame.f_code.co_filename).startswith(_PACKAGE):
        frame = frame.f_back
        level += 1
    warnings.warn(message, category, stacklevel=level)
