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
from _gilcheck import releases_gil

HERE = Path(__file__).resolve().parent
EXAMPLE = Path(os.environ.get("CCNN_DOWNSTREAM_EXAMPLE",
                              HERE.parent / "examples" / "downstream"))
PUBLIC_HEADERS = ["ccnn.h", "ccnn_common.h", "conv2d.h", "pool.h", "activation.h",
                  "correlate.h", "loss.h", "optim.h", "dense.h", "layout.h", "batchnorm.h", "augment.h", "global_pool.h",
                  "pointwise.h", "kernels_capi.h"]
# The C function table of ccnn 0.1.0 (kernels_capi.h), in order: later
# releases only append entries after these (ABI version 1).
C_TABLE_0_1_0 = [
    "abi_version", "size", "simd_path", "have_openmp", "max_threads",
    "conv2d_dims_init", "conv2d_algo", "conv2d_forward_f32", "conv2d_forward_f64",
    "conv2d_backward_f32", "conv2d_backward_f64",
    "pool2d_dims_init", "max_pool2d_forward_f32", "max_pool2d_forward_f64",
    "max_pool2d_backward_f32", "max_pool2d_backward_f64", "avg_pool2d_forward_f32",
    "avg_pool2d_forward_f64", "avg_pool2d_backward_f32", "avg_pool2d_backward_f64",
    "relu_forward_f32", "relu_forward_f64", "relu_backward_f32", "relu_backward_f64",
    "dropout_forward_f32", "dropout_forward_f64",
    "correlate2d_f32", "correlate2d_f64",
    "softmax_forward_f32", "softmax_forward_f64", "softmax_backward_f32",
    "softmax_backward_f64", "softmax_xent_forward_f32", "softmax_xent_forward_f64",
    "softmax_xent_backward_f32", "softmax_xent_backward_f64",
    "softmax_xent_dense_forward_f32", "softmax_xent_dense_forward_f64",
    "softmax_xent_dense_backward_f32", "softmax_xent_dense_backward_f64",
    "adam_update_f32", "adam_update_f64", "sgd_update_f32", "sgd_update_f64",
]


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
    """csrc/ is the single source: the installed headers are copies of
    csrc/kernels/, and the .pxd files and kernels_capi.h are what csrc/generate.py
    writes from the signature list csrc/signatures.txt."""
    csrc = HERE.parent / "csrc"
    if not csrc.is_dir():
        pytest.skip("no source tree beside the tests")
    inc = Path(ccnn.get_include()) / "ccnn"
    sys.path.insert(0, str(csrc))
    try:
        import generate
    finally:
        sys.path.remove(str(csrc))
    generated = {Path(p).name: text for p, text in generate.outputs().items()}
    for name in PUBLIC_HEADERS + ["kernels.pxd", "kernels_fused.pxd"]:
        if name in generated:
            assert (inc / name).read_text() == generated[name], name
        else:
            assert (inc / name).read_bytes() == (csrc / "kernels" / name).read_bytes(), name


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


def _c_table_entries():
    """Names of the members of ccnn_kernels_api in the installed kernels_capi.h, in order."""
    text = (Path(ccnn.get_include()) / "ccnn" / "kernels_capi.h").read_text()
    body = text[text.index("typedef struct ccnn_kernels_api {"):text.index("} ccnn_kernels_api;")]
    return [m.group(1) or m.group(2)
            for m in re.finditer(r"\(\*(\w+)\)\(|^\s*unsigned int (\w+);", body, flags=re.M)]


def test_c_function_table_only_grows_at_the_end():
    """The compatibility contract of kernels_capi.h: 0.1.0's entries keep their
    places; every later entry comes after them, and has a Cython twin."""
    entries = _c_table_entries()
    assert entries[:len(C_TABLE_0_1_0)] == C_TABLE_0_1_0
    assert len(entries) > len(C_TABLE_0_1_0)
    assert len(set(entries)) == len(entries)
    assert set(entries[2:]) <= set(ccnn.kernels.__pyx_capi__)
    assert "#define CCNN_KERNELS_ABI_VERSION 1\n" in (
        Path(ccnn.get_include()) / "ccnn" / "kernels_capi.h").read_text()


def test_c_function_table_is_fully_initialised():
    """A designated initialiser leaves a forgotten entry NULL without a warning."""
    pyx = HERE.parent / "csrc" / "bindings" / "_kernels_table.pxi"   # generated by the build
    if not pyx.is_file():
        pytest.skip("no source tree beside the tests")
    text = pyx.read_text()
    table = text[text.index("static const ccnn_kernels_api ccnn_kernels_api_table = {"):]
    table = table[:table.index("};")]
    assert re.findall(r"^\s*\.(\w+) =", table, flags=re.M) == _c_table_entries()


def test_version_is_the_installed_distribution_version():
    from importlib.metadata import version

    assert ccnn.__version__ == version("ccnn")


def test_typed_package_data_is_installed():
    pkg = Path(ccnn.__file__).resolve().parent
    assert (pkg / "py.typed").is_file()
    import importlib.machinery
    suffixes = tuple(importlib.machinery.EXTENSION_SUFFIXES)
    extensions = {f.name.split(".")[0] for f in pkg.iterdir() if f.name.endswith(suffixes)}
    assert {"_conv2d", "_dense", "_layout", "kernels"} <= extensions
    for mod in sorted(extensions):   # every compiled module has its type stub
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


@pytest.mark.parametrize("bias,relu", [(False, False), (False, True), (True, False), (True, True)])
@pytest.mark.parametrize("n,inp,units", [(7, 13, 5), (4, 600, 10), (0, 3, 2)])
def test_c_downstream_dense_matches_functional(downstream, bias, relu, n, inp, units):
    """dense_dims_init and dense_forward_f32, entries appended after 0.1.0
    ((4, 600) -> 10 takes the kernel's split-sum path)."""
    rng = np.random.default_rng(11)
    x = rng.standard_normal((n, inp), dtype=np.float32)
    w = rng.standard_normal((inp, units), dtype=np.float32)
    b = rng.standard_normal(units, dtype=np.float32) if bias else None
    out = np.full((n, units), np.nan, np.float32)
    if bias or relu:
        downstream.dense_into(out, x, w, b, relu)
    else:
        downstream.dense_into(out, x, w)
    want = F.dense(x, w, b, activation="relu" if relu else None)
    np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-5)
    ref = x.astype(np.float64) @ w + (0 if b is None else b)
    if relu:
        ref = np.maximum(ref, 0)
    np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-4)


def test_c_downstream_dense_errors(downstream):
    x = np.zeros((3, 4), np.float32)
    w = np.zeros((4, 2), np.float32)
    with pytest.raises(ValueError, match="out must have shape"):
        downstream.dense_into(np.empty((3, 3), np.float32), x, w)
    with pytest.raises(ValueError, match="geometry"):
        downstream.dense_into(np.empty((3, 2), np.float32), x, np.zeros((5, 2), np.float32))
    with pytest.raises(ValueError, match="bias"):
        downstream.dense_into(np.empty((3, 2), np.float32), x, w, np.zeros(3, np.float32))
    with pytest.raises(TypeError, match="float32"):
        downstream.dense_into(np.empty((3, 2)), x, w)


@pytest.mark.parametrize("shape,kshape,pad", [((3, 1, 12, 11), (5, 1, 3, 3), 1),
                                              ((2, 3, 9, 10), (4, 3, 3, 3), 0),
                                              ((2, 2, 7, 7), (3, 2, 2, 2), 0)])
def test_c_downstream_conv2d_relu_maxpool_matches_functional(downstream, shape, kshape, pad):
    """conv2d_relu_maxpool_supported and conv2d_relu_maxpool_forward_f32,
    entries appended after 0.1.0 (odd conv outputs drop their last row / column)."""
    rng = np.random.default_rng(12)
    x = rng.standard_normal(shape, dtype=np.float32)
    w = rng.standard_normal(kshape, dtype=np.float32)
    want, want_argmax = F.conv2d_relu_maxpool2d(x, w, padding=pad)
    out = np.full(want.shape, np.nan, np.float32)
    argmax = np.full(want.shape, 255, np.uint8)
    downstream.conv2d_relu_maxpool_into(out, argmax, x, w, pad)
    np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(argmax, want_argmax)
    composed = F.max_pool2d(F.relu(F.conv2d(x, w, padding=pad)), 2)
    np.testing.assert_allclose(out, composed, rtol=1e-5, atol=1e-5)


def test_c_downstream_conv2d_relu_maxpool_errors(downstream):
    x = np.zeros((1, 4, 8, 8), np.float32)
    w = np.zeros((2, 4, 3, 3), np.float32)       # c*r*s = 36: not supported
    out, argmax = np.empty((1, 2, 3, 3), np.float32), np.empty((1, 2, 3, 3), np.uint8)
    with pytest.raises(ValueError, match="not supported"):
        downstream.conv2d_relu_maxpool_into(out, argmax, x, w)
    x, w = x[:, :1].copy(), w[:, :1].copy()
    with pytest.raises(ValueError, match="must have shape"):
        downstream.conv2d_relu_maxpool_into(np.empty((1, 2, 6, 6), np.float32),
                                            np.empty((1, 2, 6, 6), np.uint8), x, w)
    with pytest.raises(TypeError, match="uint8"):
        downstream.conv2d_relu_maxpool_into(out, np.empty((1, 2, 3, 3), np.int64), x, w)


def test_downstream_calls_release_the_gil(downstream):
    rng = np.random.default_rng(10)
    x = rng.standard_normal((16, 16, 28, 28), dtype=np.float32)
    w = rng.standard_normal((32, 16, 3, 3), dtype=np.float32)
    downstream.conv_relu_pool(x, w, None, 1, 2, 1)
    out = np.empty((16, 32, 28, 28), np.float32)
    for call in (lambda: downstream.conv_relu_pool(x, w, None, 1, 2, 1),
                 lambda: downstream.conv2d_into(out, x, w, 1)):
        assert releases_gil(call)      # repeated while ambiguous (a busy machine)
