"""Fashion-MNIST loader (Zalando Research, MIT licence).

    >>> from ccnn.datasets import fashion_mnist
    >>> (x_train, y_train), (x_test, y_test) = fashion_mnist.load_data()
    >>> x_train.shape, x_train.dtype, y_train.shape
    ((60000, 28, 28), dtype('uint8'), (60000,))
    >>> fashion_mnist.class_names[y_train[0]]
    'Ankle boot'

Where the data comes from (first directory holding all four files wins):

1. the ``path`` argument of :func:`load_data`;
2. the directory named by ``$CCNN_DATA``;
3. the download cache, ``~/.ccnn/datasets/fashion-mnist``
   (``$CCNN_CACHE_DIR`` replaces that directory);
4. ``/usr/share/datasets/fashion-mnist`` (Debian package ``dataset-fashion-mnist``).

Each directory may hold the files gzipped (``train-images-idx3-ubyte.gz``) or
plain (``train-images-idx3-ubyte``); the plain file is used if both exist.
When no directory is complete, the missing ``.gz`` files are downloaded into
the cache from :data:`BASE_URLS` (``$CCNN_FASHION_MNIST_URL``, a base URL or a
whitespace/comma-separated list of them, replaces that list; ``file://`` works).
A download goes to a temporary file in the cache directory, is verified,
fsynced and only then renamed into place, so a partial or corrupt download
never lands in the cache.

Every file -- local, downloaded or the bundled sample -- is checked before use:
IDX header (magic ``0x00000803`` and dims ``(n, 28, 28)`` for images,
``0x00000801`` and ``(n,)`` for labels), payload length equal to the product
of the dims, gzip integrity, and the SHA-256 of the *decompressed* IDX bytes
(so differently recompressed mirrors and Debian's files are all accepted).
Any failure raises :class:`DatasetError` naming the file and the problem; a bad
file is never used and never silently skipped.  Nothing is unpickled.

:func:`load_sample` returns a small real subset shipped with the package
(1,600 training / 400 test images, balanced per class), and
``load_data(fallback_to_sample=True)`` returns that subset -- with a loud
warning -- when the full data can be neither found nor downloaded.

(About 650 lines on purpose: the search path, the download, the integrity
checks and the sample are one pipeline, read top to bottom.)
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import io
import math
import os
import sys
import time
import urllib.request
import zlib
from pathlib import Path
from typing import IO, Any, Callable, Dict, List, Optional, Tuple, Union

import numpy as np

from .._fileio import AtomicFile
from .._warnings import warn as _warn

__all__ = [
    "class_names",
    "load_data",
    "load_sample",
    "read_idx",
    "DatasetError",
    "SampleFallbackWarning",
    "search_dirs",
    "cache_dir",
    "FILES",
    "SAMPLE_FILES",
    "BASE_URLS",
]

#: Label index -> class name.
class_names = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)


#: ((x_train, y_train), (x_test, y_test))
Splits = Tuple[Tuple[np.ndarray, np.ndarray], Tuple[np.ndarray, np.ndarray]]


class DatasetError(ValueError):
    """A data file is missing, corrupt, truncated or not the expected one.

    ``path`` is the offending file (or ``None`` when not about one file).
    """

    def __init__(self, message: str, path: Optional[Path] = None) -> None:
        super().__init__(message)
        self.path = path


class SampleFallbackWarning(UserWarning):
    """``load_data(fallback_to_sample=True)`` returned the small bundled sample."""


IMAGE_MAGIC = 0x00000803  # unsigned byte, 3 dims
LABEL_MAGIC = 0x00000801  # unsigned byte, 1 dim

#: Base name -> (SHA-256 of the decompressed IDX file, its size in bytes).
FILES = {
    "train-images-idx3-ubyte": (
        "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888", 47040016),
    "train-labels-idx1-ubyte": (
        "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9", 60008),
    "t10k-images-idx3-ubyte": (
        "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b", 7840016),
    "t10k-labels-idx1-ubyte": (
        "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34", 10008),
}

#: Same, for the bundled sample ``_sample/sample-<name>.gz`` (made by
#: ``_sample/make_sample.py``; hashes are of the decompressed IDX bytes).
SAMPLE_FILES = {
    "train-images-idx3-ubyte": (
        "255e4ee5030c1b3f2a0487f20aef011c00dd85e812ddd30dddf3d68b3943af7a", 1254416),
    "train-labels-idx1-ubyte": (
        "493780981a45d260a4fb83486cce245889abff22d54e2fe246a1fcffc99c1ba1", 1608),
    "t10k-images-idx3-ubyte": (
        "7f8e06b687754aef2806b7a0e7748c2e00c1f6a200fee1b46cb73ba4819b9d9c", 313616),
    "t10k-labels-idx1-ubyte": (
        "7b9f1d61b8ae1834f18542447d9936d481ccbd328aac5858bef25b0032840fba", 408),
}

# (train images, train labels, test images, test labels) and what each holds.
_ORDER = (
    ("train-images-idx3-ubyte", "images"),
    ("train-labels-idx1-ubyte", "labels"),
    ("t10k-images-idx3-ubyte", "images"),
    ("t10k-labels-idx1-ubyte", "labels"),
)

#: Official download locations, tried in order (all serve the same gzipped
#: IDX files; the decompressed SHA-256 is checked whatever the mirror).
BASE_URLS = (
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    "https://storage.googleapis.com/tensorflow/tf-keras-datasets/",
    "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
)

URL_ENV = "CCNN_FASHION_MNIST_URL"
DATA_ENV = "CCNN_DATA"
CACHE_ENV = "CCNN_CACHE_DIR"
SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")
SAMPLE_DIR = Path(__file__).resolve().parent / "_sample"
DOWNLOAD_TIMEOUT = 60.0  # seconds, per socket operation

_CHUNK = 1 << 20
_GZIP_MAGIC = b"\x1f\x8b"

# IDX type code -> numpy dtype (multi-byte types are big-endian on disk).
_IDX_DTYPES: Dict[int, np.dtype] = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

# kind -> (magic, dims with None for "any")
_KINDS = {
    "images": (IMAGE_MAGIC, (None, 28, 28)),
    "labels": (LABEL_MAGIC, (None,)),
}


# --------------------------------------------------------------------------
# IDX reader
# --------------------------------------------------------------------------

def _fmt_dims(dims: Tuple[Optional[int], ...]) -> str:
    return "(" + ", ".join("n" if d is None else str(d) for d in dims) + (
        ",)" if len(dims) == 1 else ")")


def read_idx(source: Union[str, "os.PathLike[str]", bytes, bytearray, memoryview], *,
             kind: Optional[str] = None, sha256: Optional[str] = None,
             size: Optional[int] = None, name: Optional[str] = None) -> np.ndarray:
    """Read an IDX file (gzipped or plain) into a numpy array, with checks.

    Parameters
    ----------
    source : str, os.PathLike, bytes, bytearray or memoryview
        A file path, or the file contents.  Gzip is detected from the data
        (magic ``1f 8b``), not from the file name.
    kind : {None, "images", "labels"}
        ``"images"`` requires magic ``0x00000803`` and dims ``(n, 28, 28)``;
        ``"labels"`` requires magic ``0x00000801`` and dims ``(n,)``.
        ``None`` accepts any valid IDX header.
    sha256 : str, optional
        Expected SHA-256 (hex) of the decompressed IDX bytes (header included).
    size : int, optional
        Expected length of the decompressed IDX bytes (header included).
    name : str, optional
        What to call the source in error messages (default: the path).

    Returns
    -------
    numpy.ndarray
        Writable, native byte order, shape = the dims in the header.

    Raises
    ------
    DatasetError
        Bad magic, unexpected dims, truncated or over-long payload, corrupt or
        truncated gzip stream, or size / SHA-256 mismatch.  The message names
        the source.
    FileNotFoundError, PermissionError, ...
        From opening ``source``.
    """
    if kind is not None and kind not in _KINDS:
        raise ValueError(f"kind must be None, 'images' or 'labels', not {kind!r}")
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        label = name or "<bytes>"
        raw: IO[bytes] = io.BytesIO(data)
        is_gz = data[:2] == _GZIP_MAGIC
        known_len = None if is_gz else len(data)
        err_path: Optional[Path] = None
    else:
        p = Path(os.fspath(source))
        label = name or str(p)
        err_path = p
        raw = open(p, "rb")
        is_gz = raw.read(2) == _GZIP_MAGIC
        raw.seek(0)
        known_len = None if is_gz else os.fstat(raw.fileno()).st_size

    def fail(msg: str) -> DatasetError:
        return DatasetError(f"{label}: {msg}", path=err_path)

    stream: Any = gzip.GzipFile(fileobj=raw, mode="rb") if is_gz else raw
    try:
        with raw, stream:
            return _parse_idx(stream, kind, sha256, size, known_len, fail)
    except EOFError as exc:
        raise fail(f"truncated gzip file: the compressed stream ends before its "
                   f"end-of-stream marker ({exc})") from exc
    except gzip.BadGzipFile as exc:
        raise fail(f"corrupt gzip file ({exc})") from exc
    except zlib.error as exc:
        raise fail(f"corrupt gzip file: invalid deflate data ({exc})") from exc


def _read_into(stream: Any, mv: memoryview, hasher: Any) -> int:
    """Fill memoryview ``mv`` from ``stream``; return the number of bytes read."""
    n = 0
    total = len(mv)
    while n < total:
        k = stream.readinto(mv[n:min(total, n + _CHUNK)])
        if not k:
            break
        hasher.update(mv[n:n + k])
        n += k
    return n


def _parse_idx(stream: Any, kind: Optional[str], sha256: Optional[str],
               size: Optional[int], known_len: Optional[int],
               fail: Callable[[str], DatasetError]) -> np.ndarray:
    hasher = hashlib.sha256()
    head = stream.read(4)
    hasher.update(head)
    if len(head) < 4:
        raise fail(f"too short for an IDX file ({len(head)} bytes; the header "
                   "alone needs at least 8)")
    magic = int.from_bytes(head, "big")
    if head[0] != 0 or head[1] != 0:
        raise fail(f"not an IDX file: bad magic number 0x{magic:08x} "
                   "(an IDX file starts with two zero bytes)")
    if kind is not None:
        want_magic, want_dims = _KINDS[kind]
        if magic != want_magic:
            raise fail(f"bad magic number 0x{magic:08x}, expected "
                       f"0x{want_magic:08x} for {kind} (unsigned bytes, "
                       f"{len(want_dims)} dim{'s' if len(want_dims) > 1 else ''})")
    code, ndim = head[2], head[3]
    if code not in _IDX_DTYPES:
        raise fail(f"unknown IDX data type code 0x{code:02x} (magic 0x{magic:08x})")
    if ndim == 0:
        raise fail(f"IDX header declares 0 dimensions (magic 0x{magic:08x})")
    dtype = _IDX_DTYPES[code]

    raw_dims = stream.read(4 * ndim)
    hasher.update(raw_dims)
    if len(raw_dims) < 4 * ndim:
        raise fail(f"truncated IDX header: {ndim} dims need {4 * ndim} bytes "
                   f"after the magic, only {len(raw_dims)} present")
    dims = tuple(int.from_bytes(raw_dims[4 * i:4 * i + 4], "big") for i in range(ndim))

    if kind is not None:
        if len(dims) != len(want_dims) or any(
                w is not None and d != w for d, w in zip(dims, want_dims)):
            raise fail(f"wrong dims {dims} in IDX header, expected "
                       f"{_fmt_dims(want_dims)} for {kind}")

    header_len = 4 + 4 * ndim
    payload_len = math.prod(dims) * dtype.itemsize
    if size is not None and header_len + payload_len != size:
        raise fail(f"header declares dims {dims} ({header_len + payload_len} "
                   f"bytes), but the expected file is {size} bytes")
    if known_len is not None and known_len != header_len + payload_len:
        diff = known_len - header_len - payload_len
        if diff < 0:
            raise fail(f"truncated: header declares dims {dims}, i.e. "
                       f"{payload_len} payload bytes, but only "
                       f"{known_len - header_len} are present")
        raise fail(f"{diff} unexpected trailing bytes after the {payload_len} "
                   f"payload bytes declared by dims {dims}")

    try:
        arr = np.empty(math.prod(dims), dtype=dtype)
    except (MemoryError, ValueError) as exc:
        raise fail(f"header declares dims {dims} ({payload_len} bytes), "
                   f"too large to allocate ({exc})") from exc
    got = _read_into(stream, memoryview(arr.view(np.uint8)),  # type: ignore[arg-type]
                     hasher)  # (numpy declares its buffer protocol for Python >= 3.12 only)
    if got < payload_len:
        raise fail(f"truncated: header declares dims {dims}, i.e. {payload_len} "
                   f"payload bytes, but only {got} are present")
    # Reading past the payload also makes gzip check its CRC and length trailer.
    extra = 0
    while True:
        more = stream.read(_CHUNK)
        if not more:
            break
        extra += len(more)
    if extra:
        raise fail(f"{extra} unexpected trailing bytes after the {payload_len} "
                   f"payload bytes declared by dims {dims}")

    if sha256 is not None:
        digest = hasher.hexdigest()
        if digest != sha256.lower():
            raise fail(f"SHA-256 of the decompressed IDX data is {digest}, "
                       f"expected {sha256} (corrupt file, or not the official "
                       "Fashion-MNIST file)")

    arr = arr.reshape(dims)
    if not dtype.isnative:
        arr = arr.astype(dtype.newbyteorder("="))
    return arr


# --------------------------------------------------------------------------
# Locating local copies
# --------------------------------------------------------------------------

def cache_dir() -> Path:
    """Download cache: ``$CCNN_CACHE_DIR`` or ``~/.ccnn/datasets/fashion-mnist``."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    return Path.home() / ".ccnn" / "datasets" / "fashion-mnist"


def search_dirs(path: Union[None, str, "os.PathLike[str]"] = None) -> List[Tuple[str, Path]]:
    """``[(description, directory), ...]`` in the order :func:`load_data` looks."""
    dirs: List[Tuple[str, Path]] = []
    if path is not None:
        dirs.append(("path argument", Path(os.fspath(path)).expanduser()))
    env = os.environ.get(DATA_ENV)
    if env:
        dirs.append((f"${DATA_ENV}", Path(env).expanduser()))
    dirs.append(("download cache", cache_dir()))
    dirs.append(("system (Debian dataset-fashion-mnist)", SYSTEM_DIR))
    return dirs


def _scan(directory: Path) -> Tuple[Dict[str, Path], List[str]]:
    """Return ({base name: file}, [missing base names]) for one directory."""
    found: Dict[str, Path] = {}
    missing: List[str] = []
    for base, _ in _ORDER:
        for candidate in (directory / base, directory / (base + ".gz")):
            if candidate.is_file():
                found[base] = candidate
                break
        else:
            missing.append(base)
    return found, missing


def _read_checked(source: Any, base: str, table: Dict[str, Tuple[str, int]],
                  name: Optional[str] = None) -> np.ndarray:
    kind = dict(_ORDER)[base]
    sha, size = table[base]
    return read_idx(source, kind=kind, sha256=sha, size=size, name=name)


def _assemble(arrays: Dict[str, np.ndarray], where: str) -> Splits:
    x_train, y_train, x_test, y_test = (arrays[base] for base, _ in _ORDER)
    for split, x, y in (("train", x_train, y_train), ("test", x_test, y_test)):
        if len(x) != len(y):
            raise DatasetError(f"{where}: {split} set has {len(x)} images but "
                               f"{len(y)} labels")
        if y.size and int(y.max()) >= len(class_names):
            raise DatasetError(f"{where}: {split} labels contain {int(y.max())}, "
                               f"outside 0..{len(class_names) - 1}")
    return (x_train, y_train), (x_test, y_test)


def _load_files(found: Dict[str, Path], where: str) -> Splits:
    arrays: Dict[str, np.ndarray] = {}
    for base, _ in _ORDER:
        try:
            arrays[base] = _read_checked(found[base], base, FILES)
        except DatasetError as exc:
            raise DatasetError(
                f"Fashion-MNIST file in {where} failed verification: {exc}. "
                "ccnn never uses a file that fails verification; delete or "
                "replace it.", path=exc.path) from exc
    return _assemble(arrays, where)


# --------------------------------------------------------------------------
# Download
# --------------------------------------------------------------------------

def _base_urls() -> List[str]:
    env = os.environ.get(URL_ENV)
    urls = env.replace(",", " ").split() if env and env.strip() else list(BASE_URLS)
    return [u if u.endswith("/") else u + "/" for u in urls]


def _fmt_size(n: float) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e6 else f"{n / 1e3:.1f} kB"


class _Progress:
    """Text progress bar on stderr: redrawn in place (``\\r``) on a terminal,
    one line per 10 % otherwise (so CI logs stay readable)."""

    def __init__(self, label: str, total: Optional[int]) -> None:
        self.label, self.total, self.done = label, total, 0
        self.tty = bool(getattr(sys.stderr, "isatty", lambda: False)())
        self._step = 1 if self.tty else 10
        self._last_pct: Optional[int] = None
        self._last_t = 0.0
        self._last_line: Optional[str] = None
        self._draw()

    def update(self, n: int) -> None:
        self.done += n
        self._draw()

    def _draw(self, final: bool = False) -> None:
        now = time.monotonic()
        if self.total:
            pct = min(100, self.done * 100 // self.total) // self._step * self._step
            if not final and pct == self._last_pct:
                return
            self._last_pct = pct
            fill = pct * 30 // 100
            line = (f"{self.label} [{'#' * fill}{'.' * (30 - fill)}] {pct:3d}% "
                    f"{_fmt_size(self.done)} / {_fmt_size(self.total)}")
        else:
            if not final and now - self._last_t < (0.5 if self.tty else 5.0):
                return
            line = f"{self.label} {_fmt_size(self.done)}"
        self._last_t = now
        if line == self._last_line:
            return
        self._last_line = line
        sys.stderr.write(("\r" + line) if self.tty else (line + "\n"))
        sys.stderr.flush()

    def close(self) -> None:
        self._draw(final=True)
        if self.tty:
            sys.stderr.write("\n")
        sys.stderr.flush()


def _fetch(url: str, base: str, dest: Path) -> np.ndarray:
    """Download ``url`` into ``dest`` atomically; return the verified array."""
    dest.mkdir(parents=True, exist_ok=True)
    with AtomicFile(dest, f".{base}.", ".part") as tmp:
        with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT) as resp:
            length = resp.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            bar = _Progress(f"ccnn: downloading {base}.gz", total)
            try:
                while True:
                    chunk = resp.read(1 << 16)
                    if not chunk:
                        break
                    tmp.file.write(chunk)
                    bar.update(len(chunk))
            finally:
                bar.close()
        if total is not None and bar.done != total:
            raise DatasetError(f"{url}: incomplete download, got {bar.done} "
                               f"of {total} bytes")
        tmp.close()
        assert tmp.path is not None
        arr = _read_checked(tmp.path, base, FILES, name=f"{url} (downloaded)")
        with open(tmp.path, "rb") as f:
            gz = f.read(2) == _GZIP_MAGIC
        tmp.commit(dest / (base + ".gz" if gz else base))
        return arr


def _download_missing(dest: Path) -> Splits:
    """Load all four files from ``dest``, downloading the missing ones."""
    found, missing = _scan(dest) if dest.is_dir() else ({}, [b for b, _ in _ORDER])
    urls = _base_urls()
    arrays: Dict[str, np.ndarray] = {}
    for base, _ in _ORDER:
        if base in found:
            continue  # verified below, after the downloads
        errors = []
        for u in urls:
            url = u + base + ".gz"
            try:
                arrays[base] = _fetch(url, base, dest)
                break
            except (OSError, ValueError, http.client.HTTPException) as exc:
                # OSError covers URLError/HTTPError/timeouts; ValueError covers
                # DatasetError (bad download) and malformed URLs.
                msg = str(exc)
                msg = msg if msg.startswith(url) else f"{url}: {msg}"
                errors.append(msg)
                sys.stderr.write(f"ccnn: download failed: {msg}\n")
        else:
            raise DatasetError(f"could not download {base}.gz:\n    "
                               + "\n    ".join(errors))
    for base in found:
        try:
            arrays[base] = _read_checked(found[base], base, FILES)
        except DatasetError as exc:
            raise DatasetError(
                f"Fashion-MNIST file in the download cache {dest} failed "
                f"verification: {exc}. Delete it to download it again.",
                path=exc.path) from exc
    return _assemble(arrays, f"download cache {dest}")


# --------------------------------------------------------------------------
# Public loaders
# --------------------------------------------------------------------------

def load_data(path: Union[None, str, "os.PathLike[str]"] = None,
              fallback_to_sample: bool = False) -> Splits:
    """Load Fashion-MNIST: ``((x_train, y_train), (x_test, y_test))``.

    ``x_*`` are uint8 arrays of shape ``(n, 28, 28)`` (0 = background,
    255 = ink), ``y_*`` uint8 arrays of shape ``(n,)`` with values 0..9
    (see :data:`class_names`); n = 60000 for train, 10000 for test.

    Parameters
    ----------
    path : str or os.PathLike, optional
        Directory holding the four files; searched first (see module docs for
        the full search order).  If it lacks some files a warning is issued
        and the search continues.
    fallback_to_sample : bool
        If the full data set can be neither found nor downloaded, return
        :func:`load_sample` (1,600 / 400 images) with a loud warning
        (:class:`SampleFallbackWarning` plus a message on stderr) instead of
        raising.  A local file that fails verification always raises.

    Raises
    ------
    DatasetError
        A file that was found is corrupt, truncated or wrong (the message names
        it), or the data could not be found nor downloaded (the message lists
        every place that was tried).
    """
    looked = []
    for i, (desc, directory) in enumerate(search_dirs(path)):
        if not directory.is_dir():
            why = "does not exist" if not directory.exists() else "is not a directory"
        else:
            found, missing = _scan(directory)
            if not missing:
                return _load_files(found, f"{desc} {directory}")
            why = "missing " + ", ".join(f"{m}[.gz]" for m in missing)
        looked.append(f"{desc}: {directory} ({why})")
        if desc == "path argument" or desc == f"${DATA_ENV}":
            _warn(f"Fashion-MNIST: {desc} {directory} {why}; continuing the search")

    dest = cache_dir()
    try:
        return _download_missing(dest)
    except DatasetError as exc:
        if exc.path is not None:  # a local cache file failed verification
            raise
        problem = (
            "Fashion-MNIST could not be found or downloaded.\nLooked in:\n  "
            + "\n  ".join(looked)
            + f"\nDownload into {dest} failed: {exc}\n"
            f"Pass path=..., set ${DATA_ENV} to a directory holding "
            "train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz], "
            "t10k-images-idx3-ubyte[.gz] and t10k-labels-idx1-ubyte[.gz], "
            "install the Debian package dataset-fashion-mnist, or use "
            "load_sample() / load_data(fallback_to_sample=True).")
        if not fallback_to_sample:
            raise DatasetError(problem) from exc
    except OSError as exc:  # e.g. cache directory not writable
        problem = (f"Fashion-MNIST could not be found, and the download cache "
                   f"{dest} is unusable: {exc}\nLooked in:\n  " + "\n  ".join(looked))
        if not fallback_to_sample:
            raise DatasetError(problem) from exc

    sample = load_sample()
    n_tr, n_te = len(sample[0][0]), len(sample[1][0])
    msg = (f"USING THE SMALL BUNDLED FASHION-MNIST SAMPLE ({n_tr} training / "
           f"{n_te} test images) instead of the full data set (60000 / 10000): "
           "accuracy will be noticeably lower than with the full data. Reason: "
           + problem)
    sys.stderr.write("ccnn: WARNING: " + msg + "\n")
    sys.stderr.flush()
    _warn(msg, SampleFallbackWarning)
    return sample


def load_sample() -> Splits:
    """The bundled real Fashion-MNIST subset, same layout as :func:`load_data`.

    1,600 training images (the first 160 of each class in the official
    training file) and 400 test images (first 40 of each class in the test
    file), in their original order.  Verified against :data:`SAMPLE_FILES`.
    """
    arrays = {}
    for base, _ in _ORDER:
        arrays[base] = _read_checked(SAMPLE_DIR / f"sample-{base}.gz", base,
                                     SAMPLE_FILES)
    return _assemble(arrays, f"bundled sample {SAMPLE_DIR}")
