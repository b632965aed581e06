"""ccnn._plan -- thin binding over csrc/kernels/plan.c (a compiled inference plan).

ccnn.models.inference builds the op records, the buffers and the pointer
table, and checks every size; this layer hands over the input and the output
(the table's slots 0 and 1) and runs the plan with the GIL released.
"""
from libc.stdint cimport int64_t, uint64_t
from cython cimport floating
from ccnn.kernels cimport *
cimport ccnn.kernels_fused as ck     # NAME: the float or double kernel NAME_f32 / _f64

cdef extern from "ccnn/plan.h":
    enum:
        CCNN_PLAN_CONV
        CCNN_PLAN_DENSE
        CCNN_PLAN_MAXPOOL
        CCNN_PLAN_AVGPOOL
        CCNN_PLAN_GAP
        CCNN_PLAN_GMP
        CCNN_PLAN_BN
        CCNN_PLAN_ACT
        CCNN_PLAN_SOFTMAX
        CCNN_PLAN_TRANSPOSE
        CCNN_PLAN_MERGE
        CCNN_PLAN_CONCAT
        CCNN_PLAN_ACT_NONE
        CCNN_PLAN_ACT_RELU
        CCNN_PF_OP
        CCNN_PF_ACT
        CCNN_PF_POOL
        CCNN_PF_SRC
        CCNN_PF_DST
        CCNN_PF_SCRATCH
        CCNN_PF_WEIGHT
        CCNN_PF_BIAS
        CCNN_PF_MEAN
        CCNN_PF_VAR
        CCNN_PF_GAMMA
        CCNN_PF_BETA
        CCNN_PF_FOLDW
        CCNN_PF_FOLDB
        CCNN_PF_N
        CCNN_PF_C
        CCNN_PF_H
        CCNN_PF_W
        CCNN_PF_K
        CCNN_PF_R
        CCNN_PF_S
        CCNN_PF_SH
        CCNN_PF_SW
        CCNN_PF_DH
        CCNN_PF_DW
        CCNN_PF_PT
        CCNN_PF_PB
        CCNN_PF_PL
        CCNN_PF_PR
        CCNN_PF_CEIL
        CCNN_PF_INCLUDE_PAD
        CCNN_PF_CACHE
        CCNN_PLAN_FIELDS
        CCNN_PR_ALPHA
        CCNN_PR_EPS
        CCNN_PLAN_REALS

#: plan.h's op codes and record fields, the values the C compiler gives them (ccnn.models' record
#: builders import these; tests/test_plan_constants.py checks them against the header)
PLAN_CONV = CCNN_PLAN_CONV
PLAN_DENSE = CCNN_PLAN_DENSE
PLAN_MAXPOOL = CCNN_PLAN_MAXPOOL
PLAN_AVGPOOL = CCNN_PLAN_AVGPOOL
PLAN_GAP = CCNN_PLAN_GAP
PLAN_GMP = CCNN_PLAN_GMP
PLAN_BN = CCNN_PLAN_BN
PLAN_ACT = CCNN_PLAN_ACT
PLAN_SOFTMAX = CCNN_PLAN_SOFTMAX
PLAN_TRANSPOSE = CCNN_PLAN_TRANSPOSE
PLAN_MERGE = CCNN_PLAN_MERGE
PLAN_CONCAT = CCNN_PLAN_CONCAT
PLAN_ACT_NONE = CCNN_PLAN_ACT_NONE
PLAN_ACT_RELU = CCNN_PLAN_ACT_RELU
PF_OP = CCNN_PF_OP
PF_ACT = CCNN_PF_ACT
PF_POOL = CCNN_PF_POOL
PF_SRC = CCNN_PF_SRC
PF_DST = CCNN_PF_DST
PF_SCRATCH = CCNN_PF_SCRATCH
PF_WEIGHT = CCNN_PF_WEIGHT
PF_BIAS = CCNN_PF_BIAS
PF_MEAN = CCNN_PF_MEAN
PF_VAR = CCNN_PF_VAR
PF_GAMMA = CCNN_PF_GAMMA
PF_BETA = CCNN_PF_BETA
PF_FOLDW = CCNN_PF_FOLDW
PF_FOLDB = CCNN_PF_FOLDB
PF_N = CCNN_PF_N
PF_C = CCNN_PF_C
PF_H = CCNN_PF_H
PF_W = CCNN_PF_W
PF_K = CCNN_PF_K
PF_R = CCNN_PF_R
PF_S = CCNN_PF_S
PF_SH = CCNN_PF_SH
PF_SW = CCNN_PF_SW
PF_DH = CCNN_PF_DH
PF_DW = CCNN_PF_DW
PF_PT = CCNN_PF_PT
PF_PB = CCNN_PF_PB
PF_PL = CCNN_PF_PL
PF_PR = CCNN_PF_PR
PF_CEIL = CCNN_PF_CEIL
PF_INCLUDE_PAD = CCNN_PF_INCLUDE_PAD
PF_CACHE = CCNN_PF_CACHE
PLAN_FIELDS = CCNN_PLAN_FIELDS
PR_ALPHA = CCNN_PR_ALPHA
PR_EPS = CCNN_PR_EPS
PLAN_REALS = CCNN_PLAN_REALS


cdef extern from "ccnn/plan_train.h":
    enum:
        CCNN_TP_CONV
        CCNN_TP_CONV_POOL
        CCNN_TP_DENSE
        CCNN_TP_MAXPOOL
        CCNN_TP_BN
        CCNN_TP_RELU
        CCNN_TP_DROPOUT
        CCNN_TP_TRANSPOSE
        CCNN_TP_SOFTMAX_XENT
        CCNN_TP_POINTWISE
        CCNN_TP_AVGPOOL
        CCNN_TP_GAVGPOOL
        CCNN_TP_GMAXPOOL
        CCNN_TP_SIGMOID_BCE
        CCNN_TP_SPATIAL_DROPOUT
        CCNN_TP_BN_RELU
        CCNN_TP_ADD
        CCNN_TP_ACCUM
        CCNN_TF_OP
        CCNN_TF_FLAG
        CCNN_TF_SRC
        CCNN_TF_DST
        CCNN_TF_DSRC
        CCNN_TF_DDST
        CCNN_TF_WEIGHT
        CCNN_TF_BIAS
        CCNN_TF_DWEIGHT
        CCNN_TF_DBIAS
        CCNN_TF_AUX
        CCNN_TF_AUX2
        CCNN_TF_AUX3
        CCNN_TF_SEED
        CCNN_TF_N
        CCNN_TF_C
        CCNN_TF_H
        CCNN_TF_W
        CCNN_TF_K
        CCNN_TF_R
        CCNN_TF_S
        CCNN_TF_SH
        CCNN_TF_SW
        CCNN_TF_DH
        CCNN_TF_DW
        CCNN_TF_PT
        CCNN_TF_PB
        CCNN_TF_PL
        CCNN_TF_PR
        CCNN_TF_KIND
        CCNN_TRAIN_FIELDS
        CCNN_TR_EPS
        CCNN_TR_RATE
        CCNN_TR_ALPHA
        CCNN_TR_SCALE
        CCNN_TRAIN_REALS
        CCNN_TO_KIND
        CCNN_TO_COUNT
        CCNN_TO_CHECK
        CCNN_TO_ROWS
        CCNN_TO_NROWS
        CCNN_TO_HAS0
        CCNN_TO_HAS1
        CCNN_TO_HAS2
        CCNN_TO_DECAY
        CCNN_TO_GSCALE
        CCNN_TO_HEAD
        CCNN_TO_REALS

#: plan_train.h's op codes and record fields, the values the C compiler gives them (ccnn.models' record
#: builders import these; tests/test_plan_constants.py checks them against the header)
TP_CONV = CCNN_TP_CONV
TP_CONV_POOL = CCNN_TP_CONV_POOL
TP_DENSE = CCNN_TP_DENSE
TP_MAXPOOL = CCNN_TP_MAXPOOL
TP_BN = CCNN_TP_BN
TP_RELU = CCNN_TP_RELU
TP_DROPOUT = CCNN_TP_DROPOUT
TP_TRANSPOSE = CCNN_TP_TRANSPOSE
TP_SOFTMAX_XENT = CCNN_TP_SOFTMAX_XENT
TP_POINTWISE = CCNN_TP_POINTWISE
TP_AVGPOOL = CCNN_TP_AVGPOOL
TP_GAVGPOOL = CCNN_TP_GAVGPOOL
TP_GMAXPOOL = CCNN_TP_GMAXPOOL
TP_SIGMOID_BCE = CCNN_TP_SIGMOID_BCE
TP_SPATIAL_DROPOUT = CCNN_TP_SPATIAL_DROPOUT
TP_BN_RELU = CCNN_TP_BN_RELU
TP_ADD = CCNN_TP_ADD
TP_ACCUM = CCNN_TP_ACCUM
TF_OP = CCNN_TF_OP
TF_FLAG = CCNN_TF_FLAG
TF_SRC = CCNN_TF_SRC
TF_DST = CCNN_TF_DST
TF_DSRC = CCNN_TF_DSRC
TF_DDST = CCNN_TF_DDST
TF_WEIGHT = CCNN_TF_WEIGHT
TF_BIAS = CCNN_TF_BIAS
TF_DWEIGHT = CCNN_TF_DWEIGHT
TF_DBIAS = CCNN_TF_DBIAS
TF_AUX = CCNN_TF_AUX
TF_AUX2 = CCNN_TF_AUX2
TF_AUX3 = CCNN_TF_AUX3
TF_SEED = CCNN_TF_SEED
TF_N = CCNN_TF_N
TF_C = CCNN_TF_C
TF_H = CCNN_TF_H
TF_W = CCNN_TF_W
TF_K = CCNN_TF_K
TF_R = CCNN_TF_R
TF_S = CCNN_TF_S
TF_SH = CCNN_TF_SH
TF_SW = CCNN_TF_SW
TF_DH = CCNN_TF_DH
TF_DW = CCNN_TF_DW
TF_PT = CCNN_TF_PT
TF_PB = CCNN_TF_PB
TF_PL = CCNN_TF_PL
TF_PR = CCNN_TF_PR
TF_KIND = CCNN_TF_KIND
TRAIN_FIELDS = CCNN_TRAIN_FIELDS
TR_EPS = CCNN_TR_EPS
TR_RATE = CCNN_TR_RATE
TR_ALPHA = CCNN_TR_ALPHA
TR_SCALE = CCNN_TR_SCALE
TRAIN_REALS = CCNN_TRAIN_REALS
TRAIN_EREDUCE = CCNN_TRAIN_EREDUCE     # (declared in ccnn/kernels.pxd, with the reduce callback's type)
TO_KIND = CCNN_TO_KIND
TO_COUNT = CCNN_TO_COUNT
TO_CHECK = CCNN_TO_CHECK
TO_ROWS = CCNN_TO_ROWS
TO_NROWS = CCNN_TO_NROWS
TO_HAS0 = CCNN_TO_HAS0
TO_HAS1 = CCNN_TO_HAS1
TO_HAS2 = CCNN_TO_HAS2
TO_DECAY = CCNN_TO_DECAY
TO_GSCALE = CCNN_TO_GSCALE
TO_HEAD = CCNN_TO_HEAD
TO_REALS = CCNN_TO_REALS


def plan_forward(const int64_t[:, ::1] code, const double[:, ::1] reals, const int64_t[::1] ptrs,
                 const floating[::1] x, floating[::1] out, int nthreads):
    """Run the plan's ops (code (nops, fields), reals (nops, 2)) on the flat
    input x and output out (ptrs[0], ptrs[1]); raises on a kernel's error."""
    if code.shape[0] == 0 or code.shape[0] != reals.shape[0] \
            or code.shape[1] != CCNN_PLAN_FIELDS or reals.shape[1] != CCNN_PLAN_REALS or ptrs.shape[0] < 2 or x.shape[0] == 0 or out.shape[0] == 0:
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


from cpython.buffer cimport (PyObject_GetBuffer, PyBuffer_Release, PyBUF_C_CONTIGUOUS,
                             PyBUF_FORMAT, PyBUF_WRITABLE)
from buffers cimport buffer_kind as _kind


cdef class PlanRunner:
    """A compiled plan held for repeated runs (predict's fast path): the op
    records, reals and pointer table as in plan_forward, and the element
    counts of the model's input and output.  run(x, out, nthreads) takes
    any C-contiguous buffers of the plan's dtype and exactly those sizes
    (out writable), and raises ValueError for anything else."""
    cdef const int64_t[:, ::1] code
    cdef const double[:, ::1] reals
    cdef const int64_t[::1] ptrs
    cdef Py_ssize_t in_size, out_size
    cdef bint f64

    def __init__(self, const int64_t[:, ::1] code, const double[:, ::1] reals,
                 const int64_t[::1] ptrs, Py_ssize_t in_size, Py_ssize_t out_size, bint f64):
        if code.shape[0] == 0 or code.shape[0] != reals.shape[0] \
                or code.shape[1] != CCNN_PLAN_FIELDS or reals.shape[1] != CCNN_PLAN_REALS \
                or ptrs.shape[0] < 2 or in_size < 1 or out_size < 1:
            raise ValueError("PlanRunner: inconsistent plan")
        self.code, self.reals, self.ptrs = code, reals, ptrs
        self.in_size, self.out_size, self.f64 = in_size, out_size, f64

    def run(self, x, out, int nthreads):
        """Run the plan on x into out (see the class)."""
        cdef Py_buffer xb
        cdef Py_buffer ob
        cdef int err
        cdef Py_ssize_t isz = 8 if self.f64 else 4
        cdef char want = b'd' if self.f64 else b'f'
        PyObject_GetBuffer(x, &xb, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT)
        try:
            PyObject_GetBuffer(out, &ob, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | PyBUF_WRITABLE)
            try:
                if xb.itemsize != isz or _kind(&xb) != want or xb.len != self.in_size * isz:
                    raise ValueError("plan: x is not the plan's input")
                if ob.itemsize != isz or _kind(&ob) != want or ob.len != self.out_size * isz:
                    raise ValueError("plan: out is not the plan's output")
                with nogil:
                    if self.f64:
                        err = plan_forward_f64(<double *>ob.buf, <const double *>xb.buf,
                                               &self.ptrs[0], &self.code[0, 0],
                                               &self.reals[0, 0], self.code.shape[0], nthreads)
                    else:
                        err = plan_forward_f32(<float *>ob.buf, <const float *>xb.buf,
                                               &self.ptrs[0], &self.code[0, 0],
                                               &self.reals[0, 0], self.code.shape[0], nthreads)
            finally:
                PyBuffer_Release(&ob)
        finally:
            PyBuffer_Release(&xb)
        if err == CCNN_ENOMEM:
            raise MemoryError("inference plan: a kernel could not allocate its workspace")
        if err != CCNN_OK:
            raise ValueError(f"inference plan: a kernel refused its op (error {err})")


cdef class _TrainBuffers:
    """The buffers of x, out (writable) and targets of a training-plan call,
    checked against the plan's sizes: x `count` times in_bytes (count 0: any
    whole number >= 1 of them, then in self.count), targets tcount times
    targets_bytes (tcount 0: x's count) -- released when it goes."""
    cdef Py_buffer xb, ob, tb
    cdef int held
    cdef char kind
    cdef Py_ssize_t count

    def __cinit__(self, x, out, targets, Py_ssize_t in_bytes, Py_ssize_t out_bytes,
                  Py_ssize_t targets_bytes, Py_ssize_t count, Py_ssize_t tcount, str what):
        self.held = 0
        PyObject_GetBuffer(x, &self.xb, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT)
        self.held = 1
        PyObject_GetBuffer(out, &self.ob, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | PyBUF_WRITABLE)
        self.held = 2
        PyObject_GetBuffer(targets, &self.tb, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT)
        self.held = 3
        cdef char kind = _kind(&self.xb)
        self.kind = kind
        if (kind != b'f' and kind != b'd') or _kind(&self.ob) != kind or self.xb.len == 0 \
                or self.ob.len == 0 or self.tb.len == 0:
            raise ValueError(f"{what}: x and out must be non-empty arrays of one float dtype")
        if in_bytes < 1 or targets_bytes < 1:
            raise ValueError(f"{what}: x, out or targets is not the plan's size")
        self.count = count if count else self.xb.len // in_bytes
        if tcount == 0:
            tcount = self.count
        if self.xb.len != self.count * in_bytes or self.ob.len != out_bytes \
                or self.tb.len != tcount * targets_bytes or in_bytes % self.xb.itemsize:
            raise ValueError(f"{what}: x, out or targets is not the plan's size")
        if not (self.int_targets() or (self.tb.itemsize == self.xb.itemsize
                                       and _kind(&self.tb) == kind)):
            raise ValueError(f"{what}: targets must be int64 or of the plan's dtype")

    cdef bint int_targets(self):
        return self.tb.itemsize == 8 and (_kind(&self.tb) == b'q' or _kind(&self.tb) == b'l')

    def __dealloc__(self):
        if self.held >= 3:
            PyBuffer_Release(&self.tb)
        if self.held >= 2:
            PyBuffer_Release(&self.ob)
        if self.held >= 1:
            PyBuffer_Release(&self.xb)


cdef _raise_plan_error(int err):
    if err == CCNN_ENOMEM:
        raise MemoryError("training plan: a kernel could not allocate its workspace")
    if err != CCNN_OK:
        raise ValueError(f"training plan: a kernel refused its op (error {err})")


def plan_train(const int64_t[:, ::1] code, const double[:, ::1] reals, const int64_t[::1] ptrs,
               x, out, targets, Py_ssize_t in_bytes, Py_ssize_t out_bytes,
               Py_ssize_t targets_bytes, int nthreads, const int64_t[::1] opt=None,
               const double[::1] optreals=None):
    """Run a compiled training step (csrc/kernels/plan_train.c): code (nops,
    32), reals (nops, 3), ptrs the pointer table whose slots 0, 1 and 2 stand
    for x, out and targets -- C-contiguous buffers of the plan's dtype (x and
    out; out writable) and int64 labels or targets of that dtype, of exactly
    in_bytes, out_bytes and targets_bytes bytes (the plan's sizes).
    ccnn.models.train_plan builds the plan; this checks the buffers against
    it and raises on a kernel's error.  With opt and optreals (plan_train.h's
    optimizer record, built with the plan) the optimizer's update follows in
    the same call (plan_train_step); returns whether it ran."""
    if code.shape[0] == 0 or code.shape[0] != reals.shape[0] \
            or code.shape[1] != CCNN_TRAIN_FIELDS or reals.shape[1] != CCNN_TRAIN_REALS \
            or ptrs.shape[0] < 3:
        raise ValueError("plan_train: inconsistent plan")
    # plan_train.h's CCNN_TO_HEAD (16), CCNN_TO_REALS (8), opt[CCNN_TO_COUNT] (opt[1])
    if (opt is None) != (optreals is None) or opt is not None and (
            opt.shape[0] < 16 or optreals.shape[0] < 8 or opt[1] < 1
            or opt.shape[0] != 16 + 6 * opt[1]):
        raise ValueError("plan_train: inconsistent optimizer record")
    cdef int applied = 0
    cdef int err = CCNN_OK
    cdef int64_t nops = code.shape[0]
    cdef _TrainBuffers b = _TrainBuffers(x, out, targets, in_bytes, out_bytes, targets_bytes, 1,
                                         1, "plan_train")
    with nogil:
        if opt is not None and b.kind == b'd':
            err = plan_train_step_f64(<double *>b.ob.buf, <const double *>b.xb.buf, b.tb.buf,
                                      &ptrs[0], &code[0, 0], &reals[0, 0], nops, &opt[0],
                                      &optreals[0], &applied, nthreads)
        elif opt is not None:
            err = plan_train_step_f32(<float *>b.ob.buf, <const float *>b.xb.buf, b.tb.buf,
                                      &ptrs[0], &code[0, 0], &reals[0, 0], nops, &opt[0],
                                      &optreals[0], &applied, nthreads)
        elif b.kind == b'd':
            err = plan_train_f64(<double *>b.ob.buf, <const double *>b.xb.buf, b.tb.buf,
                                 &ptrs[0], &code[0, 0], &reals[0, 0], nops, nthreads)
        else:
            err = plan_train_f32(<float *>b.ob.buf, <const float *>b.xb.buf, b.tb.buf,
                                 &ptrs[0], &code[0, 0], &reals[0, 0], nops, nthreads)
    _raise_plan_error(err)
    return applied != 0


cdef int _call_reduce(void *ctx, int64_t step) noexcept nogil:
    """plan_train_steps's reduce: ctx is the list [the Python reducer, None];
    calls reducer(step) with the GIL; an exception is kept in the list's
    second item and stops the C call (nonzero)."""
    with gil:
        holder = <list>ctx
        try:
            holder[0](step)
        except BaseException as e:
            holder[1] = e
            return 1
    return 0


def plan_train_steps(int64_t[:, ::1] code, const double[:, ::1] reals, const int64_t[::1] ptrs,
                     x, out, targets, Py_ssize_t in_bytes, Py_ssize_t out_bytes,
                     Py_ssize_t targets_bytes, int nthreads, int64_t[::1] opt,
                     const double[:, ::1] optreals, const uint64_t[:, ::1] seeds,
                     const int64_t[::1] seed_rows, const double[:, ::1] decays,
                     const int64_t[:, ::1] snaps, int64_t[::1] hits, Py_ssize_t classes,
                     const int64_t[::1] rows, Py_ssize_t first, Py_ssize_t batch,
                     bint targets_rows, reduce=None, const int64_t[::1] labels=None):
    """plan_train with its optimizer record over nsteps = optreals.shape[0]
    consecutive batches of `batch` rows (plan_train.h's plan_train_steps):
    x holds the rows the steps take (the whole training inputs, any number
    of rows of in_bytes / batch bytes) and so does targets with targets_rows
    (rows of targets_bytes / batch bytes; else the steps' targets one after
    another, nsteps times targets_bytes); step i's batch is the rows
    rows[i * batch:(i + 1) * batch] (int64; each checked to be a row of x
    before anything runs) -- gathered in C just before the step -- or with
    rows None the rows first + i * batch on.  optreals (nsteps, 8) holds each
    step's scalars, seeds (nsteps, len(seed_rows)) its Dropout seeds, decays
    (nsteps, count) or None, snaps (k, 3) the buffers copied out after each
    step, hits (nsteps) or None: each step's rows of out whose argmax is
    their label -- labels[i * batch + r] (int64, nsteps * batch: the classes
    of one-hot targets) or, with labels None, the int64 targets themselves.
    reduce: None, or a callable reduce(i) run
    (with the GIL) between step i's backward and its update -- a
    DataParallel fit's all-reduce; an exception it raises stops the call and
    is raised here.  Returns (steps run, whether the last one updated)."""
    cdef Py_ssize_t nsteps = optreals.shape[0]
    if code.shape[0] == 0 or code.shape[0] != reals.shape[0] \
            or code.shape[1] != CCNN_TRAIN_FIELDS or reals.shape[1] != CCNN_TRAIN_REALS \
            or ptrs.shape[0] < 3 or nsteps < 1:
        raise ValueError("plan_train_steps: inconsistent plan")
    if opt.shape[0] < 16 or optreals.shape[1] < 8 or opt[1] < 1 \
            or opt.shape[0] != 16 + 6 * opt[1]:
        raise ValueError("plan_train_steps: inconsistent optimizer record")
    if seeds.shape[0] != nsteps or seeds.shape[1] != seed_rows.shape[0] \
            or (decays is not None and (decays.shape[0] != nsteps or decays.shape[1] != opt[1])) \
            or snaps.shape[1] != 3 or (hits is not None and hits.shape[0] != nsteps):
        raise ValueError("plan_train_steps: inconsistent per-step arrays")
    if batch < 1 or in_bytes % batch or targets_bytes % batch:
        raise ValueError(f"plan_train_steps: batch {batch} does not divide the plan's sizes")
    cdef _TrainBuffers b = _TrainBuffers(x, out, targets, in_bytes // batch, out_bytes,
                                         targets_bytes // batch if targets_rows
                                         else targets_bytes, 0, 0 if targets_rows else nsteps,
                                         "plan_train_steps")
    cdef int64_t nrows = b.count
    cdef Py_ssize_t k
    cdef const int64_t *ip = NULL
    if rows is not None:
        if rows.shape[0] != nsteps * batch:
            raise ValueError(f"plan_train_steps: rows must hold {nsteps * batch} indices "
                             f"(nsteps * batch), got {rows.shape[0]}")
        for k in range(rows.shape[0]):
            if rows[k] < 0 or rows[k] >= nrows:
                raise ValueError(f"plan_train_steps: rows[{k}] = {rows[k]} is not a row of x "
                                 f"(0 <= index < {nrows})")
        ip = &rows[0]
    elif first < 0 or first > nrows or nsteps * batch > nrows - first:
        raise ValueError(f"plan_train_steps: first = {first}: the rows first + "
                         f"{nsteps * batch} steps' rows are not all rows of x ({nrows})")
    cdef int applied = 0
    cdef int64_t done = 0
    cdef int err = CCNN_OK
    cdef int64_t nops = code.shape[0]
    cdef const uint64_t *sp = &seeds[0, 0] if seeds.shape[1] else NULL
    cdef const int64_t *rp = &seed_rows[0] if seeds.shape[1] else NULL
    cdef const double *dp = &decays[0, 0] if decays is not None else NULL
    cdef const int64_t *np_ = &snaps[0, 0] if snaps.shape[0] else NULL
    cdef int64_t *hp = &hits[0] if hits is not None else NULL
    cdef const int64_t *lp = NULL
    if labels is not None:
        if hp == NULL or labels.shape[0] != nsteps * batch or classes < 1 \
                or out_bytes != batch * classes * b.xb.itemsize:
            raise ValueError(f"plan_train_steps: labels must hold one label per row of "
                             f"each step's out ({nsteps * batch}), with hits")
        lp = &labels[0]
    elif hp != NULL and (not b.int_targets() or out_bytes != targets_bytes // 8 * classes
                         * b.xb.itemsize):
        raise ValueError("plan_train_steps: hits need int64 labels of out's rows")
    if reduce is not None and not callable(reduce):
        raise TypeError("plan_train_steps: reduce must be callable or None")
    cdef list holder = [reduce, None]
    cdef ccnn_step_reduce_fn fn = NULL
    if reduce is not None:
        fn = _call_reduce
    cdef void *ctx = <void *>holder
    with nogil:
        if b.kind == b'd':
            err = plan_train_steps_f64(<double *>b.ob.buf, <const double *>b.xb.buf, b.tb.buf,
                                       ip, first, nrows, batch, targets_rows,
                                       &ptrs[0], &code[0, 0], &reals[0, 0], nops, &opt[0],
                                       &optreals[0, 0], nsteps, in_bytes // 8, targets_bytes,
                                       sp, rp, seeds.shape[1], dp, np_, snaps.shape[0], hp,
                                       classes, lp, fn, ctx, &done, &applied, nthreads)
        else:
            err = plan_train_steps_f32(<float *>b.ob.buf, <const float *>b.xb.buf, b.tb.buf,
                                       ip, first, nrows, batch, targets_rows,
                                       &ptrs[0], &code[0, 0], &reals[0, 0], nops, &opt[0],
                                       &optreals[0, 0], nsteps, in_bytes // 4, targets_bytes,
                                       sp, rp, seeds.shape[1], dp, np_, snaps.shape[0], hp,
                                       classes, lp, fn, ctx, &done, &applied, nthreads)
    if holder[1] is not None:
        raise holder[1]
    _raise_plan_error(err)
    return done, applied != 0


def plan_optimize(const int64_t[::1] opt, const double[::1] optreals, bint f64, int nthreads):
    """The optimizer's update of a training plan's record alone
    (plan_train.h's plan_optimize; ccnn.models.train_plan builds the record,
    ccnn.distribution.DataParallel runs it after the all-reduce): f64 says
    whether its arrays are float64 (else float32); returns whether it ran
    (False: opt[CHECK] found a non-finite grad or loss)."""
    if opt.shape[0] < 16 or optreals.shape[0] < 8 or opt[1] < 1 \
            or opt.shape[0] != 16 + 6 * opt[1]:
        raise ValueError("plan_optimize: inconsistent optimizer record")
    cdef int applied = 0
    cdef int err
    with nogil:
        if f64:
            err = plan_optimize_f64(&opt[0], &optreals[0], &applied, nthreads)
        else:
            err = plan_optimize_f32(&opt[0], &optreals[0], &applied, nthreads)
    if err != CCNN_OK:
        raise ValueError(f"plan_optimize: the kernel refused the record (error {err})")
    return applied != 0
