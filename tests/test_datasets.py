"""Tests for ccnn.datasets.fashion_mnist.  Never touches the network.

The full data set is checked only when $CCNN_DATA names a directory holding
the real files; everything else uses tiny IDX files written to tmp_path.
"""

import gzip
import hashlib
import importlib
import importlib.util
import os
import re
import warnings
from pathlib import Path

import numpy as np
import pytest

try:
    fm = importlib.import_module("ccnn.datasets.fashion_mnist")
except ImportError:
    # The loader is pure Python; if the ccnn package itself cannot be imported
    # (e.g. compiled extensions not built yet) test the module file directly.
    _file = Path(__file__).resolve().parents[1] / "ccnn" / "datasets" / "fashion_mnist.py"
    _spec = importlib.util.spec_from_file_location("ccnn_datasets_fashion_mnist", _file)
    fm = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(fm)

REAL_DATA = os.environ.get("CCNN_DATA")
NAMES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
         "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
N_TRAIN, N_TEST = 20, 10


# ---------------------------------------------------------------- helpers

def idx(arr, magic=None):
    arr = np.asarray(arr, dtype=np.uint8)
    if magic is None:
        magic = 0x800 | arr.ndim
    return (magic.to_bytes(4, "big")
            + b"".join(d.to_bytes(4, "big") for d in arr.shape) + arr.tobytes())


def make_small_set(seed=0):
    rng = np.random.default_rng(seed)
    x_tr = rng.integers(0, 256, (N_TRAIN, 28, 28), dtype=np.uint8)
    y_tr = (np.arange(N_TRAIN) % 10).astype(np.uint8)
    x_te = rng.integers(0, 256, (N_TEST, 28, 28), dtype=np.uint8)
    y_te = (np.arange(N_TEST)[::-1] % 10).astype(np.uint8)
    arrays = dict(zip(NAMES, (x_tr, y_tr, x_te, y_te)))
    return arrays, {n: idx(a) for n, a in arrays.items()}


SMALL_ARRAYS, SMALL_RAW = make_small_set()
SMALL_TABLE = {n: (hashlib.sha256(b).hexdigest(), len(b)) for n, b in SMALL_RAW.items()}


def write_set(directory, gz=True, raw=None):
    """Write the small set into directory; gz = True / False / 'mixed'."""
    raw = dict(SMALL_RAW if raw is None else raw)
    directory.mkdir(parents=True, exist_ok=True)
    for i, (name, data) in enumerate(raw.items()):
        use_gz = gz if gz != "mixed" else i % 2 == 0
        if use_gz:
            (directory / (name + ".gz")).write_bytes(gzip.compress(data))
        else:
            (directory / name).write_bytes(data)
    return directory


def corrupt_set(directory):
    """A complete set of files that all fail verification (wrong data)."""
    other, _ = make_small_set(seed=1)
    return write_set(directory, raw={n: idx(a) for n, a in other.items()})


def assert_small(result):
    (x_tr, y_tr), (x_te, y_te) = result
    for got, name in zip((x_tr, y_tr, x_te, y_te), NAMES):
        assert got.dtype == np.uint8
        np.testing.assert_array_equal(got, SMALL_ARRAYS[name])
    assert x_tr.shape == (N_TRAIN, 28, 28) and y_tr.shape == (N_TRAIN,)
    assert x_te.shape == (N_TEST, 28, 28) and y_te.shape == (N_TEST,)


def cache_files(cache):
    return sorted(p.name for p in cache.iterdir()) if cache.exists() else []


@pytest.fixture
def env(tmp_path, monkeypatch):
    """Isolated environment: no $CCNN_DATA, temp cache, no system dir, the
    download URL points at an empty local directory, and FILES = small set."""
    cache = tmp_path / "cache"
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    monkeypatch.delenv("CCNN_DATA", raising=False)
    monkeypatch.setenv("CCNN_CACHE_DIR", str(cache))
    monkeypatch.setenv("CCNN_FASHION_MNIST_URL", mirror.as_uri())
    monkeypatch.setattr(fm, "SYSTEM_DIR", tmp_path / "no-system-dir")
    monkeypatch.setattr(fm, "FILES", dict(SMALL_TABLE))
    return {"tmp": tmp_path, "cache": cache, "mirror": mirror}


# ---------------------------------------------------------------- basics

def test_class_names():
    assert list(fm.class_names) == ["T-shirt/top", "Trouser", "Pullover", "Dress",
                                    "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                                    "Ankle boot"]


def test_dataset_error_is_value_error():
    assert issubclass(fm.DatasetError, ValueError)


def test_official_hash_table():
    assert fm.FILES["train-images-idx3-ubyte"] == (
        "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888", 47040016)
    assert fm.FILES["t10k-labels-idx1-ubyte"][1] == 10008
    assert set(fm.FILES) == set(NAMES) == set(fm.SAMPLE_FILES)


# ---------------------------------------------------------------- read_idx

@pytest.mark.parametrize("as_path", [False, True])
@pytest.mark.parametrize("gz", [False, True])
def test_read_idx_plain_and_gz(tmp_path, gz, as_path):
    data = SMALL_RAW["train-images-idx3-ubyte"]
    blob = gzip.compress(data) if gz else data
    src = blob
    if as_path:
        src = tmp_path / "f.bin"  # gzip detected from content, not name
        src.write_bytes(blob)
    sha, size = SMALL_TABLE["train-images-idx3-ubyte"]
    arr = fm.read_idx(src, kind="images", sha256=sha, size=size)
    np.testing.assert_array_equal(arr, SMALL_ARRAYS["train-images-idx3-ubyte"])
    assert arr.flags.writeable and arr.dtype == np.uint8


def test_read_idx_generic_dtypes():
    a = np.arange(12, dtype=">i4").reshape(3, 4)
    blob = (0x0C02).to_bytes(4, "big") + (3).to_bytes(4, "big") + (4).to_bytes(4, "big") + a.tobytes()
    out = fm.read_idx(blob)
    assert out.dtype == np.int32 and out.dtype.isnative
    np.testing.assert_array_equal(out, np.arange(12).reshape(3, 4))


def test_bad_magic(tmp_path):
    f = tmp_path / "images.idx"
    f.write_bytes(b"\x12\x34" + SMALL_RAW["train-images-idx3-ubyte"][2:])
    with pytest.raises(fm.DatasetError, match=r"images\.idx.*bad magic.*0x12340803"):
        fm.read_idx(f)
    labels = SMALL_RAW["train-labels-idx1-ubyte"]
    with pytest.raises(fm.DatasetError, match=r"bad magic number 0x00000801, expected 0x00000803"):
        fm.read_idx(labels, kind="images")
    with pytest.raises(fm.DatasetError, match=r"unknown IDX data type"):
        fm.read_idx(b"\x00\x00\x07\x01" + labels[4:])


def test_wrong_dims(tmp_path):
    bad = idx(np.zeros((5, 28, 27)), magic=0x803)
    f = tmp_path / "imgs"
    f.write_bytes(gzip.compress(bad))
    with pytest.raises(fm.DatasetError, match=r"imgs: wrong dims \(5, 28, 27\).*\(n, 28, 28\)"):
        fm.read_idx(f, kind="images")
    with pytest.raises(fm.DatasetError, match=r"magic"):
        fm.read_idx(idx(np.zeros((5, 2))), kind="labels")  # 2-d "labels"
    # Right header but a different count than the expected file size.
    sha, size = SMALL_TABLE["train-labels-idx1-ubyte"]
    with pytest.raises(fm.DatasetError, match=r"expected file is %d bytes" % size):
        fm.read_idx(idx(np.zeros(N_TRAIN + 1)), kind="labels", sha256=sha, size=size)


@pytest.mark.parametrize("gz", [False, True])
def test_truncated_payload_and_trailing_bytes(tmp_path, gz):
    data = SMALL_RAW["train-images-idx3-ubyte"]
    for blob, msg in ((data[:-1], r"truncated.*only 15679 are present"),
                      (data[:10], r"truncated IDX header"),
                      (data[:3], r"too short"),
                      (data + b"\0\0", r"2 unexpected trailing bytes")):
        f = tmp_path / "x.idx"
        f.write_bytes(gzip.compress(blob) if gz else blob)
        with pytest.raises(fm.DatasetError, match=msg):
            fm.read_idx(f, kind="images")


def test_truncated_gz(tmp_path):
    blob = gzip.compress(SMALL_RAW["train-images-idx3-ubyte"])
    f = tmp_path / "train-images-idx3-ubyte.gz"
    for cut in (len(blob) // 2, len(blob) - 4):  # inside deflate data / inside trailer
        f.write_bytes(blob[:cut])
        with pytest.raises(fm.DatasetError, match=r"train-images-idx3-ubyte\.gz: truncated gzip") as ei:
            fm.read_idx(f, kind="images")
        assert ei.value.path == f


def test_corrupt_gz(tmp_path):
    blob = bytearray(gzip.compress(SMALL_RAW["train-labels-idx1-ubyte"]))
    blob[-6] ^= 0xFF  # CRC/length trailer
    f = tmp_path / "labels.gz"
    f.write_bytes(bytes(blob))
    with pytest.raises(fm.DatasetError, match=r"labels\.gz: corrupt gzip"):
        fm.read_idx(f)


def test_wrong_hash(tmp_path):
    f = tmp_path / "t10k-labels-idx1-ubyte"
    data = bytearray(SMALL_RAW["t10k-labels-idx1-ubyte"])
    data[-1] ^= 1
    f.write_bytes(bytes(data))
    sha, size = SMALL_TABLE["t10k-labels-idx1-ubyte"]
    with pytest.raises(fm.DatasetError, match=r"t10k-labels-idx1-ubyte: SHA-256 .* expected " + sha):
        fm.read_idx(f, kind="labels", sha256=sha, size=size)


# ---------------------------------------------------------------- load_data from disk

@pytest.mark.parametrize("gz", [True, False, "mixed"])
def test_load_data_path(env, gz):
    d = write_set(env["tmp"] / "data", gz=gz)
    assert_small(fm.load_data(d))
    assert_small(fm.load_data(str(d)))
    assert cache_files(env["cache"]) == []


def test_load_data_real_hashes_reject_small_files(env, monkeypatch):
    monkeypatch.setattr(fm, "FILES", {n: ("0" * 64, s) for n, (_, s) in SMALL_TABLE.items()})
    d = write_set(env["tmp"] / "data")
    with pytest.raises(fm.DatasetError, match=r"train-images-idx3-ubyte\.gz.*SHA-256"):
        fm.load_data(d)


def test_search_order(env, monkeypatch):
    tmp, cache = env["tmp"], env["cache"]
    arg, data_env, system = tmp / "arg", tmp / "env", tmp / "system"
    monkeypatch.setattr(fm, "SYSTEM_DIR", system)
    # Each later location holds a complete but corrupt set: using it would raise.
    write_set(arg)
    corrupt_set(data_env)
    corrupt_set(cache)
    corrupt_set(system)
    monkeypatch.setenv("CCNN_DATA", str(data_env))
    assert_small(fm.load_data(arg))                 # path argument beats $CCNN_DATA
    with pytest.raises(fm.DatasetError, match=re.escape(str(data_env))):
        fm.load_data()                              # ... which is used next
    write_set(data_env)
    assert_small(fm.load_data())                    # $CCNN_DATA beats the cache
    monkeypatch.delenv("CCNN_DATA")
    with pytest.raises(fm.DatasetError, match="download cache"):
        fm.load_data()
    write_set(cache)
    assert_small(fm.load_data())                    # cache beats the system dir
    for p in cache.iterdir():
        p.unlink()
    with pytest.raises(fm.DatasetError, match=re.escape(str(system))):
        fm.load_data()
    write_set(system)
    assert_small(fm.load_data())
    assert [d for _, d in fm.search_dirs(arg)] == [arg, cache, system]


def test_incomplete_explicit_dir_warns_and_continues(env, monkeypatch):
    partial = env["tmp"] / "partial"
    write_set(partial)
    (partial / "t10k-labels-idx1-ubyte.gz").unlink()
    write_set(env["cache"])
    monkeypatch.setenv("CCNN_DATA", str(env["tmp"] / "does-not-exist"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert_small(fm.load_data(partial))
    msgs = [str(w.message) for w in caught]
    assert len(msgs) == 2
    assert str(partial) in msgs[0] and "missing t10k-labels-idx1-ubyte" in msgs[0]
    assert "does-not-exist does not exist" in msgs[1]


def test_corrupt_local_file_raises_without_download(env):
    d = write_set(env["tmp"] / "data")
    bad = d / "train-labels-idx1-ubyte.gz"
    bad.write_bytes(gzip.compress(SMALL_RAW["train-labels-idx1-ubyte"])[:-10])
    write_set(env["mirror"])  # a good download would be available
    with pytest.raises(fm.DatasetError, match="train-labels-idx1-ubyte.gz: truncated gzip") as ei:
        fm.load_data(d, fallback_to_sample=True)
    assert ei.value.path == bad
    assert cache_files(env["cache"]) == []


# ---------------------------------------------------------------- download

def test_download_file_url(env, monkeypatch, capsys):
    write_set(env["mirror"])
    replaced, synced = [], []
    real_replace, real_fsync = os.replace, os.fsync
    monkeypatch.setattr(fm.os, "replace",
                        lambda a, b: (replaced.append((Path(a), Path(b))), real_replace(a, b))[1])
    monkeypatch.setattr(fm.os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd))[1])

    assert_small(fm.load_data())
    assert cache_files(env["cache"]) == sorted(n + ".gz" for n in NAMES)
    assert len(replaced) == 4
    for src, dst in replaced:  # temp file in the same directory, then renamed
        assert src.parent == dst.parent == env["cache"] and src.name.endswith(".part")
    assert len(synced) >= 4
    err = capsys.readouterr().err
    assert "downloading train-images-idx3-ubyte.gz" in err and "100%" in err

    # Second call uses the cache (mirror gone).
    for p in env["mirror"].iterdir():
        p.unlink()
    assert_small(fm.load_data())


def test_download_tries_next_mirror_and_fills_partial_cache(env, monkeypatch):
    good = write_set(env["tmp"] / "good")
    monkeypatch.setenv("CCNN_FASHION_MNIST_URL",
                       f"{env['mirror'].as_uri()} , {good.as_uri()}/")
    write_set(env["cache"], gz=False)
    (env["cache"] / "t10k-images-idx3-ubyte").unlink()
    assert_small(fm.load_data())
    assert "t10k-images-idx3-ubyte.gz" in cache_files(env["cache"])


@pytest.mark.parametrize("damage", ["wrong-hash", "truncated-gz", "not-gzip-junk"])
def test_corrupt_download_leaves_nothing(env, damage):
    write_set(env["mirror"])
    target = env["mirror"] / "t10k-images-idx3-ubyte.gz"
    blob = target.read_bytes()
    if damage == "wrong-hash":
        other, _ = make_small_set(seed=1)
        blob = gzip.compress(idx(other["t10k-images-idx3-ubyte"]))
    elif damage == "truncated-gz":
        blob = blob[: len(blob) // 2]
    else:
        blob = b"<html>404</html>"
    target.write_bytes(blob)
    with pytest.raises(fm.DatasetError) as ei:
        fm.load_data()
    msg = str(ei.value)
    assert "could not download t10k-images-idx3-ubyte.gz" in msg
    assert target.as_uri() in msg
    files = cache_files(env["cache"])
    assert "t10k-images-idx3-ubyte.gz" not in files and "t10k-images-idx3-ubyte" not in files
    assert not [f for f in files if f.endswith(".part")]
    # The files verified before the failure are kept (they are good).
    assert files == ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"]


def test_not_found_error_lists_locations(env, monkeypatch):
    monkeypatch.setenv("CCNN_DATA", str(env["tmp"] / "nope"))
    with pytest.warns(UserWarning):
        with pytest.raises(fm.DatasetError) as ei:
            fm.load_data(env["tmp"] / "arg")
    msg = str(ei.value)
    for where in (env["tmp"] / "arg", env["tmp"] / "nope", env["cache"],
                  env["tmp"] / "no-system-dir", env["mirror"].as_uri()):
        assert str(where) in msg
    assert "fallback_to_sample" in msg


# ---------------------------------------------------------------- sample

def test_load_sample():
    (x_tr, y_tr), (x_te, y_te) = fm.load_sample()
    assert x_tr.shape == (1600, 28, 28) and y_tr.shape == (1600,)
    assert x_te.shape == (400, 28, 28) and y_te.shape == (400,)
    assert {a.dtype for a in (x_tr, y_tr, x_te, y_te)} == {np.dtype(np.uint8)}
    assert np.bincount(y_tr, minlength=10).tolist() == [160] * 10
    assert np.bincount(y_te, minlength=10).tolist() == [40] * 10
    assert 20 < x_tr.mean() < 120  # real images, not blank


def test_sample_files_on_disk():
    d = fm.SAMPLE_DIR
    assert sum(p.stat().st_size for p in d.iterdir() if p.is_file()) < 1_000_000
    assert "Zalando" in (d / "LICENSE").read_text()
    assert (d / "make_sample.py").is_file()


def test_sample_is_verified(monkeypatch):
    table = dict(fm.SAMPLE_FILES)
    table["train-labels-idx1-ubyte"] = ("0" * 64, table["train-labels-idx1-ubyte"][1])
    monkeypatch.setattr(fm, "SAMPLE_FILES", table)
    with pytest.raises(fm.DatasetError, match="sample-train-labels-idx1-ubyte.gz: SHA-256"):
        fm.load_sample()


def test_fallback_to_sample(env, capsys):
    with pytest.warns(fm.SampleFallbackWarning, match="accuracy will be noticeably lower"):
        (x_tr, y_tr), (x_te, y_te) = fm.load_data(fallback_to_sample=True)
    assert x_tr.shape == (1600, 28, 28) and x_te.shape == (400, 28, 28)
    err = capsys.readouterr().err
    assert "WARNING" in err and "SAMPLE" in err and "accuracy" in err
    with pytest.raises(fm.DatasetError, match="could not be found or downloaded"):
        fm.load_data()


# ---------------------------------------------------------------- the real data

@pytest.fixture(scope="module")
def real_data(tmp_path_factory):
    if not REAL_DATA:
        pytest.skip("CCNN_DATA is not set: the full Fashion-MNIST checks need the "
                    "real files (set CCNN_DATA to their directory)")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CCNN_DATA", REAL_DATA)
        mp.setenv("CCNN_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
        mp.setenv("CCNN_FASHION_MNIST_URL", "file:///nonexistent-no-network/")
        return fm.load_data()


def test_real_data(real_data):
    (x_tr, y_tr), (x_te, y_te) = real_data
    assert x_tr.shape == (60000, 28, 28) and y_tr.shape == (60000,)
    assert x_te.shape == (10000, 28, 28) and y_te.shape == (10000,)
    assert {a.dtype for a in (x_tr, y_tr, x_te, y_te)} == {np.dtype(np.uint8)}
    assert y_tr.max() == 9 and y_te.max() == 9
    assert np.bincount(y_tr, minlength=10).tolist() == [6000] * 10
    assert np.bincount(y_te, minlength=10).tolist() == [1000] * 10


def test_sample_comes_from_real_data(real_data):
    (x_tr, y_tr), (x_te, y_te) = real_data
    (s_xtr, s_ytr), (s_xte, s_yte) = fm.load_sample()
    for xs, ys, xr, yr in ((s_xtr, s_ytr, x_tr, y_tr), (s_xte, s_yte, x_te, y_te)):
        flat = xr.reshape(len(xr), -1)
        for i in (0, 1, len(xs) // 2, len(xs) - 1):
            hits = np.flatnonzero((flat == xs[i].ravel()).all(axis=1))
            assert hits.size >= 1, f"sample image {i} not in the real set"
            assert yr[hits[0]] == ys[i]
