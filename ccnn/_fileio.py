"""File-system helpers for ccnn's atomic writes (the weights files, the
model files, the downloaded data sets), for reading .npy headers without
reading (or unpickling) the data, and for comparing those headers with a model's."""
from __future__ import annotations

import contextlib
import os
import tempfile
import tokenize
from typing import IO, Any, Iterator, List, Mapping, Optional, Tuple, Union

import numpy as np


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

    def commit(self, final: "Union[str, os.PathLike[str]]", overwrite: bool = True) -> None:
        """Give the file its final name; with overwrite=False a FileExistsError
        when `final` exists (a hard link, so no other writer can slip in between)."""
        assert self.path is not None
        self.close()
        os.chmod(self.path, 0o644)
        if overwrite:
            os.replace(self.path, final)
        else:
            try:
                os.link(self.path, final)
            except FileExistsError:
                raise FileExistsError(f"{os.fspath(final)} exists; pass overwrite=True to "
                                      f"replace it") from None
            except OSError:             # no hard links here: check, then rename
                if os.path.lexists(final):
                    raise FileExistsError(f"{os.fspath(final)} exists; pass overwrite=True "
                                          f"to replace it") from None
                os.replace(self.path, final)
            else:
                os.unlink(self.path)
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


@contextlib.contextmanager
def atomic_write(path: "Union[str, os.PathLike[str]]", overwrite: bool = True
                 ) -> Iterator[IO[bytes]]:
    """A binary file to write `path`'s new content into; it replaces `path`
    (atomically: AtomicFile) when the block ends without an error, and with
    overwrite=False only if `path` does not exist (FileExistsError)."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    if not overwrite and os.path.lexists(path):   # fail before writing anything
        raise FileExistsError(f"{path} exists; pass overwrite=True to replace it")
    with AtomicFile(directory, "." + os.path.basename(path) + ".", ".tmp") as tmp:
        yield tmp.file
        tmp.commit(path, overwrite)


def read_npy_header(f: IO[bytes]) -> Tuple[Tuple[int, ...], bool, np.dtype]:
    """(shape, fortran_order, dtype) of the .npy file open at its start in `f`,
    from its header alone; f is left at the first byte of the data.  A bad
    magic string, version or header is a ValueError, whatever numpy's parser
    raised."""
    fmt = np.lib.format
    version = fmt.read_magic(f)
    try:
        if version == (1, 0):
            shape, fortran, dtype = fmt.read_array_header_1_0(f)
        elif version == (2, 0):
            shape, fortran, dtype = fmt.read_array_header_2_0(f)
        else:
            raise ValueError(f"unsupported .npy format version {version}")
    except NPY_HEADER_ERRORS as e:
        raise ValueError(f"unreadable .npy header ({type(e).__name__}: {e})") from None
    return tuple(shape), bool(fortran), dtype


#: what numpy's .npy header parser (tokenize + ast.literal_eval) raises for a
#: damaged header besides ValueError
NPY_HEADER_ERRORS = (SyntaxError, tokenize.TokenError, RecursionError, MemoryError, TypeError,
                     OverflowError)


def weight_mismatches(found: Mapping[str, Tuple[Tuple[int, ...], np.dtype]],
                      own: Mapping[str, Tuple[Tuple[int, ...], np.dtype]]) -> List[str]:
    """Every name, shape or dtype of the arrays `found` in a file ({name:
    (shape, dtype)}) that differs from the model's `own`, one phrase each."""
    missing = sorted(set(own) - set(found))
    unexpected = sorted(set(found) - set(own))
    problems = []
    if missing:
        problems.append(f"missing arrays {missing}")
    if unexpected:
        problems.append(f"unexpected arrays {unexpected}")
    for key in sorted(set(own) & set(found)):
        (shape, dtype), (shape2, dtype2) = found[key], own[key]
        if tuple(shape) != tuple(shape2) or dtype != dtype2:
            problems.append(f"{key}: file has {dtype}{list(shape)}, the model "
                            f"{dtype2}{list(shape2)}")
    return problems
