"""Model weights on disk (Sequential.save_weights / load_weights): .npz files
written atomically and read without unpickling anything.

The file format: one array per weight, 'layer{i}/{kernel|bias}', plus the
0-d integer FORMAT_KEY.  Version 2 (the key present, = 2) holds Keras's layout
(Conv2D kernel (kh, kw, in, out)), what get_weights gives.  Files without the
key (version 1, written by ccnn before the key existed) hold the kernels'
internal layout (Conv2D kernel (out, in, kh, kw)); they still load.  With
save_weights(..., include_optimizer=True) the file also holds the optimizer's
state, 'optimizer/iterations', 'optimizer/{i}/{slot}' (Optimizer.get_state of
the model's parameters, in their internal layout)."""
from __future__ import annotations

import os
import zipfile
import zlib
from typing import Any, Callable, Dict, Optional, Tuple

import numpy as np

from .._fileio import NPY_HEADER_ERRORS, atomic_write, read_npy_header, weight_mismatches

FORMAT_KEY = "ccnn_weights_format"
FORMAT_VERSION = 2


def save_npz_atomic(path: Any, arrays: Dict[str, np.ndarray]) -> None:
    """Write `arrays` to the .npz file `path` atomically: a temporary file in
    the same directory, flushed and fsynced, then renamed over `path`."""
    with atomic_write(path) as f:
        np.savez(f, **arrays)  # type: ignore[arg-type]  # numpy's stub types **kwds oddly


def load_npz_checked(path: Any) -> Dict[str, np.ndarray]:
    """Every array of the .npz file `path`, read without unpickling anything.
    A file that is not an .npz, is truncated or corrupt, or holds pickled
    objects raises a ValueError naming the file."""
    path = os.fspath(path)
    try:
        data = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise
    except ValueError as e:
        if "pickle" in str(e):
            raise ValueError(f"{path}: not a ccnn weights file: it holds pickled Python data, "
                             f"which ccnn never loads") from e
        raise ValueError(f"{path}: not a valid ccnn weights file (.npz): {e}") from e
    except NPY_HEADER_ERRORS as e:
        raise ValueError(f"{path}: not a valid ccnn weights file (.npz): an unreadable .npy "
                         f"header ({type(e).__name__}: {e})") from None
    except (OSError, EOFError, zipfile.BadZipFile, zlib.error) as e:
        raise ValueError(f"{path}: corrupt or truncated weights file ({type(e).__name__}: "
                         f"{e})") from e
    if not isinstance(data, np.lib.npyio.NpzFile):
        raise ValueError(f"{path}: not a ccnn weights file: expected an .npz archive, found a "
                         f"single .npy array")
    try:
        with data:
            arrays = {k: data[k] for k in data.files}
    except ValueError as e:
        if "allow_pickle" in str(e) or "pickle" in str(e):
            raise ValueError(f"{path}: not a ccnn weights file: it holds object arrays "
                             f"(pickled Python objects), which ccnn never loads") from e
        raise ValueError(f"{path}: corrupt weights file: {e}") from e
    except NPY_HEADER_ERRORS as e:
        raise ValueError(f"{path}: corrupt weights file: an unreadable .npy header "
                         f"({type(e).__name__}: {e})") from None
    except (OSError, EOFError, zipfile.BadZipFile, zlib.error, KeyError) as e:
        raise ValueError(f"{path}: corrupt or truncated weights file ({type(e).__name__}: "
                         f"{e})") from e
    for k, v in arrays.items():
        if not isinstance(v, np.ndarray):  # np.load gives the raw bytes of a non-.npy member
            raise ValueError(f"{path}: not a ccnn weights file: its member {k!r} is not a "
                             f".npy array")
    return arrays


def npz_headers(path: Any) -> Optional[Dict[str, Tuple[Tuple[int, ...], np.dtype]]]:
    """{name: (shape, dtype)} of every array of the .npz file `path`, read from the
    .npy headers alone: no array data is read and nothing is unpickled.  None
    when `path` is not a zip archive (load_npz_checked then says what it is).
    A member that is not a .npy array, an object array or an unreadable header
    is a ValueError naming the file."""
    path = os.fspath(path)
    try:
        if not zipfile.is_zipfile(path):
            return None
    except OSError:
        return None
    out: Dict[str, Tuple[Tuple[int, ...], np.dtype]] = {}
    try:
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                name = info.filename
                if not name.endswith(".npy"):
                    raise ValueError(f"{path}: not a ccnn weights file: its member {name!r} "
                                     f"is not a .npy array")
                with zf.open(info) as f:
                    shape, _, dtype = read_npy_header(f)
                if dtype.hasobject:
                    raise ValueError(f"{path}: not a ccnn weights file: it holds object arrays "
                                     f"(pickled Python objects), which ccnn never loads")
                out[name[:-4]] = (tuple(shape), dtype)
    except ValueError as e:
        if str(e).startswith(path):
            raise
        raise ValueError(f"{path}: corrupt weights file: {e}") from e
    except (OSError, EOFError, zipfile.BadZipFile, zlib.error, KeyError) as e:
        raise ValueError(f"{path}: corrupt or truncated weights file ({type(e).__name__}: "
                         f"{e})") from e
    return out


def check_weights_match(path: str, found: Dict[str, Tuple[Tuple[int, ...], np.dtype]],
                        own: Dict[str, np.ndarray]) -> None:
    """A ValueError listing every name, shape or dtype in `found` that differs from `own`."""
    problems = weight_mismatches(found, {k: (a.shape, a.dtype) for k, a in own.items()})
    if problems:
        raise ValueError(f"{path}: the weights do not match this model (saved from "
                         f"another architecture?): " + "; ".join(problems))


#: the prefix of the optimizer's state in a weights file (save_weights(..., include_optimizer=True))
OPTIMIZER_PREFIX = "optimizer/"


#: the prefix of a training backup's own numbers (BackupAndRestore: 'meta/epoch', ...)
METADATA_PREFIX = "meta/"


def split_prefixed(arrays: Dict[str, Any], prefix: str) -> Dict[str, Any]:
    """Remove and return the entries of `arrays` named prefix + key, by key."""
    keys = [k for k in arrays if k.startswith(prefix)]
    return {k[len(prefix):]: arrays.pop(k) for k in keys}


def split_optimizer_state(arrays: Dict[str, Any]) -> Dict[str, Any]:
    """Remove and return the 'optimizer/...' entries of `arrays`, without the prefix."""
    return split_prefixed(arrays, OPTIMIZER_PREFIX)


def load_weights_file(path: str, expected: Callable[[bool], Dict[str, np.ndarray]]
                      ) -> Tuple[Dict[str, np.ndarray], bool]:
    """(arrays, keras_layout) of the weights file `path`, every name, shape and
    dtype checked against `expected(keras_layout)` -- first from the .npy
    headers, before any data is read -- and the format version checked.  The
    optimizer's state, when the file has it, stays in `arrays` under
    OPTIMIZER_PREFIX (its own checks are the optimizer's set_state)."""
    headers = npz_headers(path)
    if headers is not None:
        keras = headers.pop(FORMAT_KEY, None) is not None
        split_optimizer_state(headers)
        split_prefixed(headers, METADATA_PREFIX)
        check_weights_match(path, headers, expected(keras))
    loaded = load_npz_checked(path)
    optimizer_state = split_optimizer_state(loaded)
    split_prefixed(loaded, METADATA_PREFIX)
    version = loaded.pop(FORMAT_KEY, None)
    keras = version is not None
    if keras:
        assert version is not None
        if (version.shape != () or version.dtype.kind not in "iu"
                or int(version) != FORMAT_VERSION):
            raise ValueError(f"{path}: weights file format {version.tolist()!r} is not one this "
                             f"ccnn reads (it reads {FORMAT_VERSION} and files without "
                             f"{FORMAT_KEY!r}); written by a newer ccnn?")
    check_weights_match(path, {k: (a.shape, a.dtype) for k, a in loaded.items()},
                        expected(keras))
    loaded.update({OPTIMIZER_PREFIX + k: a for k, a in optimizer_state.items()})
    return loaded, keras
