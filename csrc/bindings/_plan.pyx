"""ccnn._plan -- thin binding over csrc/kernels/plan.c (a compiled inference plan).

ccnn.models.inference builds the op records, the buffers and the pointer
table, and checks every size; this layer hands over the input and the output
(the table's slots 0 and 1) and runs the plan with the GIL released.
"""
from libc.stdint cimport int64_t
from cython cimport floating
from ccnn.kernels cimport *
cimport ccnn.kernels_fused as ck     # NAME: the float or double kernel NAME_f32 / _f64


def plan_forward(const int64_t[:, ::1] code, const double[:, ::1] reals, const int64_t[::1] ptrs,
                 const floating[::1] x, floating[::1] out, int nthreads):
    """Run the plan's ops (code (nops, fields), reals (nops, 2)) on the flat
    input x and output out (ptrs[0], ptrs[1]); raises on a kernel's error."""
    if code.shape[0] == 0 or code.shape[0] != reals.shape[0] or code.shape[1] != 32 \
            or reals.shape[1] != 2 or ptrs.shape[0] < 2 or x.shape[0] == 0 or out.shape[0] == 0:
        raise ValueError("plan_forward: inconsistent plan")
    cdef int64_t nops = code.shape[0]
    cdef int err
    with nogil:
        err = ck.plan_forward(&out[0], &x[0], &ptrs[0], &code[0, 0], &reals[0, 0], nops,
                              nthreads)
    if err == CCNN_ENOMEM:
        raise MemoryError("inference plan: a kernel could not allocate its workspace")
    if err != CCNN_OK:
        raise ValueError(f"inference plan: a kernel refused its op (error {err})")
