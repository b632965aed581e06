"""ccnn._runtime -- build and run-time facts (OpenMP, SIMD path)."""
cimport ccnn.kernels as kernels
from ccnn.kernels cimport ccnn_out_size


def simd_path():
    """The SIMD clone the loader picks on this CPU."""
    return kernels.simd_path().decode()


def have_openmp():
    return bool(kernels.have_openmp())


def max_threads():
    """Threads OpenMP would use by default (1 without OpenMP)."""
    return kernels.max_threads()


def reread_environment():
    """Make the kernels read their tuning knobs from os.environ again
    (CCNN_WINO_SMALL_CK_TILES, CCNN_WINO_MIN_CALL_TILES, CCNN_WINO_WGRAD,
    CCNN_DENSE_SMALL_M): each is read once, on first use, and kept."""
    kernels.env_reread()


def out_size(long long inp, long long pad_lo, long long pad_hi, long long k, long long stride,
             long long dilation, bint ceil_mode):
    """Output length of a sliding window -- ccnn_out_size in ccnn_common.h, the one
    place this formula lives.  Arguments must lie in [0, 2**31)."""
    return ccnn_out_size(inp, pad_lo, pad_hi, k, stride, dilation, ceil_mode)
