/* ccnn_common.h -- definitions shared by every ccnn kernel family.
 *
 * Conventions (after karpathy/llm.c):
 *   - each op is a pair  name_forward(out, ..., inp, ..., dims)  /
 *     name_backward(dinp, dweight, ..., dout, inp, ..., dims), outputs first,
 *     'd' prefix for gradients, a shape comment on every pointer;
 *   - activations are NCHW, C-contiguous; all sizes and indices are int64_t;
 *   - every kernel exists for float (suffix _f32) and double (suffix _f64);
 *   - kernels never allocate on the hot path, never touch the Python API and
 *     may be called with the GIL released;
 *   - nthreads is an explicit argument: OpenMP 'parallel for' on outer loops
 *     only, each output element written by exactly one thread.
 */
#ifndef CCNN_COMMON_H
#define CCNN_COMMON_H

#include <stdint.h>
#include <stddef.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* Error codes returned by the *_dims_init helpers (0 means OK). */
enum {
    CCNN_OK = 0,
    CCNN_EBADARG = 1,   /* a size < 1 where >= 1 is needed, or negative */
    CCNN_EEMPTY = 2,    /* the kernel does not fit in the padded input */
    CCNN_EOVERFLOW = 3, /* a size product does not fit in int64 */
    CCNN_ENOMEM = 4     /* a workspace could not be allocated */
};

/* The single place where output sizes are computed.
 *
 * Output length of a sliding window over an input of length `in`, padded by
 * pad_lo before and pad_hi after, window `k` taps spaced `dilation` apart,
 * moved by `stride` (PyTorch's conv/pool formula, Dumoulin & Visin eq. 15):
 *
 *     out = floor((in + pad_lo + pad_hi - dilation*(k-1) - 1) / stride) + 1
 *
 * With ceil_mode the division rounds up, and a last window that would start
 * inside the right/bottom padding is dropped (PyTorch's pooling rule):
 *     if (out-1)*stride >= in + pad_lo  then  out -= 1.
 *
 * Returns the output length, or a value < 1 when the window does not fit.
 * Arguments are assumed to lie in [0, 2^31); callers validate that first. */
static inline int64_t ccnn_out_size(int64_t in, int64_t pad_lo, int64_t pad_hi,
                                    int64_t k, int64_t stride, int64_t dilation,
                                    int ceil_mode)
{
    int64_t span = in + pad_lo + pad_hi - dilation * (k - 1) - 1;
    if (span < 0) return 0;
    int64_t out = (ceil_mode ? (span + stride - 1) / stride : span / stride) + 1;
    if (ceil_mode && (out - 1) * stride >= in + pad_lo) out -= 1;
    return out;
}

/* Half-open range [lo, hi) of output positions o for which the input index
 * o*stride + offset lies in [0, in).  Used to skip padding without branches
 * in the innermost loops. */
static inline void ccnn_valid_range(int64_t out, int64_t stride, int64_t offset,
                                    int64_t in, int64_t *lo, int64_t *hi)
{
    /* o*stride + offset >= 0   <=>  o >= ceil(-offset / stride) */
    int64_t a = offset >= 0 ? 0 : (-offset + stride - 1) / stride;
    /* o*stride + offset <= in-1 <=> o <= floor((in - 1 - offset) / stride) */
    int64_t b = (in - 1 - offset) < 0 ? -1 : (in - 1 - offset) / stride;
    b += 1;
    if (a > out) a = out;
    if (b > out) b = out;
    if (b < a) b = a;
    *lo = a;
    *hi = b;
}

/* Runtime SIMD dispatch: hot loops are compiled several times with GCC's
 * target_clones and the loader picks the best clone for the running CPU
 * (AVX-512, AVX2+FMA, or the portable baseline).  setup.py defines
 * CCNN_HAVE_TARGET_CLONES only when the compiler accepts it. */
#if defined(CCNN_HAVE_TARGET_CLONES) && defined(__x86_64__) && defined(__GNUC__)
#define CCNN_DISPATCH __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define CCNN_DISPATCH
#endif

/* OpenMP helpers: run serially below a work threshold, where forking costs
 * more than it gives. `work` is roughly the number of multiply-adds. */
#define CCNN_PAR_MIN_WORK 32768
static inline int ccnn_threads_for(int nthreads, int64_t work)
{
    if (nthreads < 1) nthreads = 1;
    return work < CCNN_PAR_MIN_WORK ? 1 : nthreads;
}

/* This thread's number and the team's size inside a parallel region
 * (0 and 1 without OpenMP). */
static inline void ccnn_team(int64_t *tid, int64_t *nthr)
{
#ifdef _OPENMP
    *tid = omp_get_thread_num();
    *nthr = omp_get_num_threads();
#else
    *tid = 0;
    *nthr = 1;
#endif
}

/* Name of the SIMD path the dispatcher picks on this CPU (for show_config). */
const char *ccnn_simd_path(void);
/* 1 when compiled with OpenMP, else 0. */
int ccnn_have_openmp(void);
/* Processors OpenMP would use by default (1 without OpenMP). */
int ccnn_max_threads(void);
/* Forget the tuning knobs read from the environment (kernels_common.h's
 * ccnn_env_knob): the next use reads each again. */
void ccnn_env_reread(void);

#ifdef __cplusplus
}
#endif
#endif /* CCNN_COMMON_H */
