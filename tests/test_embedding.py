"""ccnn's kernels from other packages' Cython and C code.

The example package examples/downstream is built here, against the ccnn
that is installed (ccnn.get_include() for its headers and .pxd), in a
temporary directory, and its results are compared with ccnn.functional.
"""
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import ccnn
import ccnn.functional as F
import ccnn.kernels
from _gilcheck import increments_during

HERE = Path(__file__).resolve().parent
EXAMPLE = Path(os.environ.get("CCNN_DOWNSTREAM_EXAMPLE",
                              HERE.parent / "examples" / "downstream"))
PUBLIC_HEADERS = ["ccnn.h", "ccnn_common.h", "conv2d.h", "pool.h", "activation.h",
                  "correlate.h", "loss.h", "optim.h", "kernels_capi.h"]


# ------------------------------------------------------------ what is installed
def test_get_include_holds_the_headers_and_the_pxd():
    inc = Path(ccnn.get_include())
    assert inc.is_dir(), inc
    assert inc.name == "include" and inc.parent == Path(ccnn.__file__).resolve().parent
    for name in PUBLIC_HEADERS + ["kernels.pxd"]:
        assert (inc / "ccnn" / name).is_file(), name
    # private headers stay private
    assert not (inc / "ccnn" / "gemm.h").exists()
    assert not (inc / "ccnn" / "kernels_common.h").exists()


def test_installed_copies_match_csrc():
    """csrc/ is the single source: the installed headers and .pxd are copies."""
    csrc = HERE.parent / "csrc"
    if not csrc.is_dir():
        pytest.skip("no source tree beside the tests")
    inc = Path(ccnn.get_include()) / "ccnn"
    for name in PUBLIC_HEADERS + ["kernels.pxd"]:
        assert (inc / name).read_bytes() == (csrc / name).read_bytes(), name


def _declared_functions():
    """Names of the cdef functions declared in the installed kernels.pxd."""
    text = (Path(ccnn.get_include()) / "ccnn" / "kernels.pxd").read_text()
    return re.findall(r"^cdef [\w ]*?\**(\w+)\(", text, flags=re.M)


def test_every_declared_function_is_exported():
    declared = _declared_functions()
    assert len(declared) >= 40
    capi = ccnn.kernels.__pyx_capi__
    assert sorted(declared) == sorted(capi)
    assert "float const *" in repr(capi["conv2d_forward_f32"])  # the signature is checked


def test_c_function_table_capsule():
    assert ccnn.kernels.C_API_VERSION == 1
    assert "ccnn.kernels._C_API" in repr(ccnn.kernels._C_API)


def test_version_is_the_installed_distribution_version():
    from importlib.metadata import version

    assert ccnn.__version__ == version("ccnn")


def test_typed_package_data_is_installed():
    pkg = Path(ccnn.__file__).resolve().parent
    assert (pkg / "py.typed").is_file()
    for mod in ("_activation", "_conv2d", "_correlate", "_loss", "_optim", "_pool",
                "_runtime", "kernels"):
        assert (pkg / f"{mod}.pyi").is_file(), mod


# ------------------------------------------------------------ the downstream package
@pytest.fixture(scope="module")
def downstream(tmp_path_factory):
    """examples/downstream built with `python setup.py build_ext --inplace` in a
    temporary copy, against the installed ccnn; the imported package."""
    if not EXAMPLE.is_dir():
        pytest.fail(f"the downstream example is missing: {EXAMPLE}")
    pytest.importorskip("Cython", reason="building the downstream example needs Cython")
    root = tmp_path_factory.mktemp("downstream")
    src = root / "downstream"
    shutil.copytree(EXAMPLE, src, ignore=shutil.ignore_patterns(
        "build", "*.so", "*.c.bak", "__pycache__", "_fused.c"))
    proc = subprocess.run([sys.executable, "setup.py", "build_ext", "--inplace"], cwd=src,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"build failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    warnings = re.findall(r"ccnn_downstream/\S+: warning: .*", proc.stdout + proc.stderr)
    assert not warnings, "\n".join(warnings)  # the headers compile cleanly in others' code
    sys.path.insert(0, str(src))
    try:
        import ccnn_downstream
        yield ccnn_downstream
    finally:
        sys.path.remove(str(src))


def test_downstream_links_nothing_of_ccnn(downstream):
    """No ccnn symbol is left for the dynamic linker: the kernels come from capsules."""
    nm = shutil.which("nm")
    if nm is None:
        pytest.skip("nm (binutils) is not installed")
    pkg = Path(downstream.__file__).parent
    libs = sorted(pkg.glob("*.so")) + sorted(pkg.glob("*.pyd"))
    assert len(libs) == 2
    for lib in libs:
        out = subprocess.run([nm, "-D", "--undefined-only", str(lib)], capture_output=True,
                             text=True, check=True).stdout
        assert "ccnn" not in out, out


def test_downstream_sees_the_same_build(downstream):
    info = downstream.build_info()
    assert info["simd_path"] == ccnn._runtime.simd_path() == downstream.simd_path()
    assert info["openmp"] == ccnn._runtime.have_openmp()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("padding,pool,bias", [(1, 2, True), (0, 2, False), (2, 3, True)])
def test_cython_downstream_matches_functional(downstream, dtype, padding, pool, bias):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((5, 3, 17, 16)).astype(dtype)
    w = rng.standard_normal((6, 3, 3, 3)).astype(dtype)
    b = rng.standard_normal(6).astype(dtype) if bias else None
    for nthreads in (1, 2):
        got = downstream.conv_relu_pool(x, w, b, padding, pool, nthreads)
        want = F.max_pool2d(F.relu(F.conv2d(x, w, b, padding=padding)), pool)
        assert got.dtype == dtype
        np.testing.assert_array_equal(got, want)


def test_cython_downstream_on_the_book_model_shapes(downstream):
    """The textbook's first block: 32 images, Conv2D(10, 3x3, same) -> ReLU -> 2x2 pool."""
    rng = np.random.default_rng(8)
    x = rng.random((32, 1, 28, 28), dtype=np.float32)
    w = rng.standard_normal((10, 1, 3, 3), dtype=np.float32)
    b = rng.standard_normal(10, dtype=np.float32)
    got = downstream.conv_relu_pool(x, w, b, 1, 2)
    assert got.shape == (32, 10, 14, 14)
    np.testing.assert_array_equal(got, F.max_pool2d(F.relu(F.conv2d(x, w, b, padding=1)), 2))


def test_cython_downstream_errors(downstream):
    x = np.zeros((1, 3, 8, 8), np.float32)
    with pytest.raises(ValueError, match="channels"):
        downstream.conv_relu_pool(x, np.zeros((2, 4, 3, 3), np.float32))
    with pytest.raises(ValueError, match="geometry"):
        downstream.conv_relu_pool(x, np.zeros((2, 3, 9, 9), np.float32))
    with pytest.raises(ValueError, match="dtype mismatch"):  # float32 x, float64 kernel
        downstream.conv_relu_pool(x, np.zeros((2, 3, 3, 3), np.float64))


def test_c_downstream_matches_functional(downstream):
    rng = np.random.default_rng(9)
    x = rng.standard_normal((4, 2, 11, 9), dtype=np.float32)
    w = rng.standard_normal((3, 2, 3, 3), dtype=np.float32)
    for pad in (0, 1):
        want = F.conv2d(x, w, padding=pad)
        out = np.full(want.shape, np.nan, np.float32)
        downstream.conv2d_into(out, x, w, pad)
        np.testing.assert_array_equal(out, want)
    with pytest.raises(ValueError, match="out must have shape"):
        downstream.conv2d_into(np.empty((4, 3, 9, 7), np.float32), x, w, 1)
    with pytest.raises(TypeError, match="float32"):
        downstream.conv2d_into(np.empty((4, 3, 9, 7)), x, w, 0)
    for dtype in (np.float32, np.float64):
        a = rng.standard_normal((3, 5, 7)).astype(dtype)
        want = F.relu(a)
        downstream.relu_(a)
        np.testing.assert_array_equal(a, want)


def test_downstream_calls_release_the_gil(downstream):
    rng = np.random.default_rng(10)
    x = rng.standard_normal((16, 16, 28, 28), dtype=np.float32)
    w = rng.standard_normal((32, 16, 3, 3), dtype=np.float32)
    downstream.conv_relu_pool(x, w, None, 1, 2, 1)
    out = np.empty((16, 32, 28, 28), np.float32)
    for call in (lambda: downstream.conv_relu_pool(x, w, None, 1, 2, 1),
                 lambda: downstream.conv2d_into(out, x, w, 1)):
        # retried: a busy machine may not schedule the counter during one call
        assert any(increments_during(call) > 0 for _ in range(5))
