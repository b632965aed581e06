"""File-system helpers for ccnn's atomic writes (the weights files, the
downloaded data sets)."""
from __future__ import annotations

import os
import tempfile
from typing import Any, Optional, Union


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


class AtomicFile:
    """A temporary file in `directory` that takes its final name only by commit():

        with AtomicFile(directory, prefix, suffix) as tmp:
            tmp.file.write(data)
            tmp.commit(final)   # flush + fsync, chmod 644, rename over final, fsync the directory

    Leaving the block without commit (an error, Ctrl-C) removes the temporary
    file, so a reader sees the old `final` or the complete new one."""

    def __init__(self, directory: "Union[str, os.PathLike[str]]", prefix: str, suffix: str):
        self.directory = directory
        fd, path = tempfile.mkstemp(dir=directory, prefix=prefix, suffix=suffix)
        self.path: Optional[str] = path
        self.file = os.fdopen(fd, "wb")

    def close(self) -> None:
        """Flush and fsync what was written, and close the file (commit does it too)."""
        if not self.file.closed:
            with self.file:
                self.file.flush()
                os.fsync(self.file.fileno())

    def commit(self, final: "Union[str, os.PathLike[str]]") -> None:
        assert self.path is not None
        self.close()
        os.chmod(self.path, 0o644)
        os.replace(self.path, final)
        self.path = None
        fsync_dir(self.directory)

    def __enter__(self) -> "AtomicFile":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.file.close()
        if self.path is not None:
            try:
                os.unlink(self.path)
            except OSError:
                pass
