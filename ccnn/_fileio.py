"""File-system helpers for ccnn's atomic writes (the weights files, the
downloaded data sets)."""
from __future__ import annotations

import os
from typing import Union


def fsync_dir(directory: "Union[str, os.PathLike[str]]") -> None:
    """Flush `directory`'s entries to disk (after a rename into it), when the
    platform allows opening a directory; errors are ignored."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
