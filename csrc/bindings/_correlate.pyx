"""ccnn._correlate -- thin binding over csrc/kernels/correlate.c."""
import numpy as np
from cython cimport floating
from ccnn.kernels cimport *
cimport ccnn.kernels_fused as ck     # NAME: the float or double kernel NAME_f32 / _f64


def correlate2d(const floating[:, ::1] a, const floating[:, ::1] v, tuple out_shape,
                tuple offset, bint multiply_fill, int nthreads):
    """out[i, j] = full_correlation(a, v)[i + offset[0], j + offset[1]];
    multiply_fill: terms outside a are products with 0 (scipy) rather than skipped."""
    cdef ccnn_correlate_dims d
    d.ha = a.shape[0]; d.wa = a.shape[1]; d.hv = v.shape[0]; d.wv = v.shape[1]
    d.ho = out_shape[0]; d.wo = out_shape[1]; d.off_h = offset[0]; d.off_w = offset[1]
    d.multiply_fill = multiply_fill
    if (d.ha < 1 or d.wa < 1 or d.hv < 1 or d.wv < 1 or d.ho < 1 or d.wo < 1 or d.off_h < 0
            or d.off_w < 0 or d.off_h + d.ho > d.ha + d.hv - 1 or d.off_w + d.wo > d.wa + d.wv - 1):
        raise ValueError("invalid correlate geometry")
    out = np.empty((d.ho, d.wo), dtype=np.float32 if floating is float else np.float64)
    cdef floating[:, ::1] o = out
    with nogil:
        ck.correlate2d(&o[0, 0], &a[0, 0], &v[0, 0], &d, nthreads)
    return out
