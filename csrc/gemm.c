/* gemm.c -- packed, register-blocked GEMM with implicit-im2col B (see gemm.h).
 *
 * Loop nest (Goto / BLIS):  jc (NC columns of C) -> pc (KC of the inner
 * dimension; pack a KC x NC panel of B) -> ic (MC rows; pack an MC x KC block
 * of A) -> jr (NR) -> ir (MR) -> micro-kernel: an MR x NR tile of C kept in
 * registers for the whole KC loop.
 *
 * Micro-kernels: AVX2+FMA intrinsics (float 6x16, double 6x8) chosen at run
 * time when the CPU has them, else a portable C kernel compiled with
 * target_clones (it is also the reference the fast one is tested against
 * through CCNN_GEMM_GENERIC=1).
 */
#ifndef REAL
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "gemm.h"
#include "kernels_common.h"
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define CCNN_X86 1
#endif

/* ---- per-thread workspaces: grow, never shrink, reused across calls, and
 * freed when their thread exits (a pthread key destructor).  Threads come and
 * go -- Python threads, and the OpenMP team each of them starts -- and each
 * would otherwise leave its buffers behind (about 2 MB of GEMM packing space
 * alone). ---- */
typedef struct {
    void *ptr[CCNN_WS_SLOTS];
    size_t size[CCNN_WS_SLOTS];
} ccnn_ws_set;

static pthread_key_t ws_key;
static pthread_once_t ws_once = PTHREAD_ONCE_INIT;
static int ws_key_err;

static void ws_free(void *p)
{
    ccnn_ws_set *ws = (ccnn_ws_set *)p;
    for (int i = 0; i < CCNN_WS_SLOTS; i++) free(ws->ptr[i]);
    free(ws);
}

static void ws_make_key(void) { ws_key_err = pthread_key_create(&ws_key, ws_free); }

void *ccnn_workspace(int slot, size_t bytes)
{
    if (pthread_once(&ws_once, ws_make_key) != 0 || ws_key_err != 0) return NULL;
    ccnn_ws_set *ws = (ccnn_ws_set *)pthread_getspecific(ws_key);
    if (!ws) {
        ws = (ccnn_ws_set *)calloc(1, sizeof *ws);
        if (!ws) return NULL;
        if (pthread_setspecific(ws_key, ws) != 0) {
            free(ws);
            return NULL;
        }
    }
    if (bytes == 0) bytes = 1;
    if (bytes > ws->size[slot]) {
        free(ws->ptr[slot]);
        ws->ptr[slot] = NULL;
        ws->size[slot] = 0;
        if (posix_memalign(&ws->ptr[slot], 64, bytes) != 0) {
            ws->ptr[slot] = NULL;
            return NULL;
        }
        ws->size[slot] = bytes;
    }
    return ws->ptr[slot];
}

static int use_fast = -1;   /* -1: not decided yet */

static int fast_kernels(void)
{
    if (use_fast < 0) {
        int ok = 0;
#ifdef CCNN_X86
        __builtin_cpu_init();
        ok = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif
        const char *env = getenv("CCNN_GEMM_GENERIC");
        if (env && env[0] == '1') ok = 0;
        use_fast = ok;
    }
    return use_fast;
}

const char *ccnn_gemm_kernel_name(void)
{
    return fast_kernels() ? "avx2+fma (f32 6x16, f64 6x8)" : "generic C";
}

#ifdef CCNN_X86
/* The AVX2 micro-kernels keep the 6 x 2 vector tile of C in twelve named
 * registers (an array would be spilled to the stack by GCC). */
#define ROW_FMA(i, unused, fma, bcast, c0, c1)                                        \
    do { const __typeof__(b0) ai = bcast(a + (i)); c0 = fma(ai, b0, c0); c1 = fma(ai, b1, c1); } while (0)
#define ROW_STORE(i, load, store, add, c0, c1, half)                                 \
    do { store(c + (i) * ldc, add(load(c + (i) * ldc), c0));                         \
         store(c + (i) * ldc + (half), add(load(c + (i) * ldc + (half)), c1)); } while (0)

/* c (6 x 16, ldc) += a_packed (kc x 6) * b_packed (kc x 16) */
__attribute__((target("avx2,fma")))
static void ukernel_avx2_f32(int64_t kc, const float *restrict a, const float *restrict b,
                             float *restrict c, int64_t ldc)
{
    __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
    __m256 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
    for (int64_t p = 0; p < kc; p++) {
        const __m256 b0 = _mm256_load_ps(b), b1 = _mm256_load_ps(b + 8);
        ROW_FMA(0, _, _mm256_fmadd_ps, _mm256_broadcast_ss, c00, c01);
        ROW_FMA(1, _, _mm256_fmadd_ps, _mm256_broadcast_ss, c10, c11);
        ROW_FMA(2, _, _mm256_fmadd_ps, _mm256_broadcast_ss, c20, c21);
        ROW_FMA(3, _, _mm256_fmadd_ps, _mm256_broadcast_ss, c30, c31);
        ROW_FMA(4, _, _mm256_fmadd_ps, _mm256_broadcast_ss, c40, c41);
        ROW_FMA(5, _, _mm256_fmadd_ps, _mm256_broadcast_ss, c50, c51);
        a += 6;
        b += 16;
    }
    ROW_STORE(0, _mm256_loadu_ps, _mm256_storeu_ps, _mm256_add_ps, c00, c01, 8);
    ROW_STORE(1, _mm256_loadu_ps, _mm256_storeu_ps, _mm256_add_ps, c10, c11, 8);
    ROW_STORE(2, _mm256_loadu_ps, _mm256_storeu_ps, _mm256_add_ps, c20, c21, 8);
    ROW_STORE(3, _mm256_loadu_ps, _mm256_storeu_ps, _mm256_add_ps, c30, c31, 8);
    ROW_STORE(4, _mm256_loadu_ps, _mm256_storeu_ps, _mm256_add_ps, c40, c41, 8);
    ROW_STORE(5, _mm256_loadu_ps, _mm256_storeu_ps, _mm256_add_ps, c50, c51, 8);
}

/* c (6 x 8, ldc) += a_packed (kc x 6) * b_packed (kc x 8) */
__attribute__((target("avx2,fma")))
static void ukernel_avx2_f64(int64_t kc, const double *restrict a, const double *restrict b,
                             double *restrict c, int64_t ldc)
{
    __m256d c00 = _mm256_setzero_pd(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
    __m256d c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
    for (int64_t p = 0; p < kc; p++) {
        const __m256d b0 = _mm256_load_pd(b), b1 = _mm256_load_pd(b + 4);
        ROW_FMA(0, _, _mm256_fmadd_pd, _mm256_broadcast_sd, c00, c01);
        ROW_FMA(1, _, _mm256_fmadd_pd, _mm256_broadcast_sd, c10, c11);
        ROW_FMA(2, _, _mm256_fmadd_pd, _mm256_broadcast_sd, c20, c21);
        ROW_FMA(3, _, _mm256_fmadd_pd, _mm256_broadcast_sd, c30, c31);
        ROW_FMA(4, _, _mm256_fmadd_pd, _mm256_broadcast_sd, c40, c41);
        ROW_FMA(5, _, _mm256_fmadd_pd, _mm256_broadcast_sd, c50, c51);
        a += 6;
        b += 8;
    }
    ROW_STORE(0, _mm256_loadu_pd, _mm256_storeu_pd, _mm256_add_pd, c00, c01, 4);
    ROW_STORE(1, _mm256_loadu_pd, _mm256_storeu_pd, _mm256_add_pd, c10, c11, 4);
    ROW_STORE(2, _mm256_loadu_pd, _mm256_storeu_pd, _mm256_add_pd, c20, c21, 4);
    ROW_STORE(3, _mm256_loadu_pd, _mm256_storeu_pd, _mm256_add_pd, c30, c31, 4);
    ROW_STORE(4, _mm256_loadu_pd, _mm256_storeu_pd, _mm256_add_pd, c40, c41, 4);
    ROW_STORE(5, _mm256_loadu_pd, _mm256_storeu_pd, _mm256_add_pd, c50, c51, 4);
}
#undef ROW_FMA
#undef ROW_STORE
#endif

#define MR 6
#define KC 256
#define MC 96

#define REAL float
#define SUF(name) name##_f32
#define NR 16
#define NC 2048
#include "gemm.c"
#undef REAL
#undef SUF
#undef NR
#undef NC

#define REAL double
#define SUF(name) name##_f64
#define NR 8
#define NC 1024
#include "gemm.c"
#undef REAL
#undef SUF
#undef NR
#undef NC

#else /* ---- typed bodies: REAL, SUF, MR x NR tiles ------------------------- */

/* c (MR x NR, ldc) += a_packed (kc x MR) * b_packed (kc x NR): portable kernel */
static CCNN_DISPATCH void SUF(ukernel_generic)(int64_t kc, const REAL *restrict a,
                                               const REAL *restrict b, REAL *restrict c,
                                               int64_t ldc)
{
    REAL acc[MR][NR];
    for (int i = 0; i < MR; i++)
        for (int j = 0; j < NR; j++) acc[i][j] = 0;
    for (int64_t p = 0; p < kc; p++) {
        for (int i = 0; i < MR; i++) {
            const REAL ai = a[p * MR + i];
            #pragma omp simd
            for (int j = 0; j < NR; j++) acc[i][j] += ai * b[p * NR + j];
        }
    }
    for (int i = 0; i < MR; i++)
        for (int j = 0; j < NR; j++) c[i * ldc + j] += acc[i][j];
}

static inline void SUF(ukernel)(int64_t kc, const REAL *a, const REAL *b, REAL *c, int64_t ldc,
                                int64_t mr, int64_t nr)
{
    REAL tmp[MR * NR];
    REAL *dst = c;
    int64_t ldd = ldc;
    if (mr < MR || nr < NR) {   /* edge tile: compute into a zeroed buffer */
        memset(tmp, 0, sizeof(tmp));
        dst = tmp;
        ldd = NR;
    }
#ifdef CCNN_X86
    if (fast_kernels())
        SUF(ukernel_avx2)(kc, a, b, dst, ldd);
    else
#endif
        SUF(ukernel_generic)(kc, a, b, dst, ldd);
    if (dst == tmp)
        for (int64_t i = 0; i < mr; i++)
            for (int64_t j = 0; j < nr; j++) c[i * ldc + j] += tmp[i * NR + j];
}

/* Copy row `row` of the implicit im2col matrix of one image, columns
 * [col0, col0 + ncols), to dst[j * NRP-panel layout]: element j goes to
 * dst[(j / width) * panel + (j % width) * step]... expressed through `put`.
 *
 *   im2col[(c*R + r)*S + s, oh*Q + ow] = x[c, oh*sh - pt + r*dh, ow*sw - pl + s*dw]
 *
 * The columns are walked one output row (oh) at a time; inside it the valid
 * ow range is computed once, so the inner loops are plain copies and fills. */
static inline void SUF(im2col_row)(REAL *restrict dst, int64_t width, int64_t panel, int64_t step,
                                   const REAL *x, const ccnn_conv2d_dims *d, int64_t row,
                                   int64_t col0, int64_t ncols)
{
    const int64_t H = d->h, W = d->w, R = d->r, S = d->s, Q = d->q;
    const int64_t sw = d->stride_w;
    const int64_t c = row / (R * S), r = (row / S) % R, s = row % S;
    const REAL *xc = x + c * H * W;
    const int64_t ihoff = r * d->dil_h - d->pad_top, iwoff = s * d->dil_w - d->pad_left;
    int64_t qlo, qhi;
    ccnn_valid_range(Q, sw, iwoff, W, &qlo, &qhi);
    int64_t oh = col0 / Q, ow = col0 % Q, j = 0;
    while (j < ncols) {
        const int64_t seg = Q - ow < ncols - j ? Q - ow : ncols - j;
        const int64_t ih = oh * d->stride_h + ihoff;
        const int row_ok = (uint64_t)ih < (uint64_t)H;
        const REAL *xrow = xc + ih * W + iwoff;      /* only read when row_ok */
        for (int64_t t = 0; t < seg; ) {
            /* a run of destination elements inside one panel */
            const int64_t jj = j + t, in_panel = width - jj % width;
            const int64_t run = seg - t < in_panel ? seg - t : in_panel;
            REAL *out = dst + (jj / width) * panel + (jj % width) * step;
            /* output columns q = q0 .. q0+run-1: zeros, a copy of the valid ones, zeros */
            const int64_t q0 = ow + t;
            int64_t a = row_ok ? (qlo > q0 ? qlo - q0 : 0) : run;
            int64_t b = row_ok ? (qhi - q0 < run ? qhi - q0 : run) : run;
            if (a > run) a = run;
            if (b < a) b = a;
            int64_t u = 0;
            for (; u < a; u++) out[u * step] = 0;
            if (step == 1 && sw == 1) {
                const REAL *src = xrow + q0;
                for (; u < b; u++) out[u] = src[u];
            } else {
                for (; u < b; u++) out[u * step] = xrow[(q0 + u) * sw];
            }
            for (; u < run; u++) out[u * step] = 0;
            t += run;
        }
        j += seg;
        ow = 0;
        oh++;
    }
}

/* ap (ceil(mc/MR) panels of kc x MR) <- A[ic:ic+mc, pc:pc+kc], zero-padded */
static void SUF(pack_a)(REAL *restrict ap, const ccnn_gemm_operand *a,
                        int64_t ic, int64_t mc, int64_t pc, int64_t kc)
{
    for (int64_t ir = 0; ir < mc; ir += MR) {
        const int64_t mr = mc - ir < MR ? mc - ir : MR;
        if (a->kind == CCNN_OPERAND_STRIDED) {
            const REAL *a0 = (const REAL *)a->ptr;
            const int64_t rsa = a->rs, csa = a->cs;
            for (int64_t p = 0; p < kc; p++) {
                const REAL *src = a0 + (ic + ir) * rsa + (pc + p) * csa;
                int64_t i = 0;
                for (; i < mr; i++) ap[p * MR + i] = src[i * rsa];
                for (; i < MR; i++) ap[p * MR + i] = 0;
            }
        } else {   /* im2col rows ic+ir+i, columns pc..pc+kc: element (i, p) at ap[p*MR + i] */
            int64_t i = 0;
            for (; i < mr; i++)
                SUF(im2col_row)(ap + i, kc, 0, MR, (const REAL *)a->ptr, a->conv, a->row0 + ic + ir + i, pc, kc);
            for (; i < MR; i++)
                for (int64_t p = 0; p < kc; p++) ap[p * MR + i] = 0;
        }
        ap += MR * kc;
    }
}

/* bp (ceil(nc/NR) panels of kc x NR) <- B[pc:pc+kc, jc:jc+nc], zero-padded */
static void SUF(pack_b)(REAL *restrict bp, const ccnn_gemm_operand *b,
                        int64_t pc, int64_t kc, int64_t jc, int64_t nc)
{
    if (b->kind == CCNN_OPERAND_IM2COL) {
        /* row p of the block -> element j of it lives at bp[(j/NR)*kc*NR + p*NR + j%NR] */
        for (int64_t p = 0; p < kc; p++)
            SUF(im2col_row)(bp + p * NR, NR, kc * NR, 1, (const REAL *)b->ptr, b->conv,
                            b->row0 + pc + p, jc, nc);
        const int64_t tail = nc % NR;           /* zero the padding columns of the last panel */
        if (tail)
            for (int64_t p = 0; p < kc; p++)
                for (int64_t j = tail; j < NR; j++) bp[(nc / NR) * kc * NR + p * NR + j] = 0;
        return;
    }
    const REAL *src0 = (const REAL *)b->ptr;
    const int64_t rs = b->rs, cs = b->cs;
    for (int64_t jr = 0; jr < nc; jr += NR) {
        const int64_t nr = nc - jr < NR ? nc - jr : NR;
        if (cs == 1) {
            for (int64_t p = 0; p < kc; p++) {
                const REAL *src = src0 + (pc + p) * rs + (jc + jr);
                int64_t j = 0;
                for (; j < nr; j++) bp[p * NR + j] = src[j];
                for (; j < NR; j++) bp[p * NR + j] = 0;
            }
        } else {   /* column-wise: reads run along p (e.g. B = dy^T with rs == 1) */
            int64_t j = 0;
            for (; j < nr; j++) {
                const REAL *src = src0 + pc * rs + (jc + jr + j) * cs;
                for (int64_t p = 0; p < kc; p++) bp[p * NR + j] = src[p * rs];
            }
            for (; j < NR; j++)
                for (int64_t p = 0; p < kc; p++) bp[p * NR + j] = 0;
        }
        bp += NR * kc;
    }
}

int SUF(ccnn_gemm)(int64_t m, int64_t n, int64_t k, const ccnn_gemm_operand *a,
                   const ccnn_gemm_operand *b, REAL *c, int64_t ldc)
{
    if (m <= 0 || n <= 0 || k <= 0) return CCNN_OK;
    REAL *ap = (REAL *)ccnn_workspace(CCNN_WS_GEMM, sizeof(REAL) * (size_t)(MC * KC + KC * NC));
    if (!ap) return CCNN_ENOMEM;
    REAL *bp = ap + MC * KC;
    const int64_t kblk = (k + ((k + KC - 1) / KC) - 1) / ((k + KC - 1) / KC);   /* equal KC blocks */
    for (int64_t jc = 0; jc < n; jc += NC) {
        const int64_t nc = n - jc < NC ? n - jc : NC;
        for (int64_t pc = 0; pc < k; pc += kblk) {
            const int64_t kc = k - pc < kblk ? k - pc : kblk;
            SUF(pack_b)(bp, b, pc, kc, jc, nc);
            for (int64_t ic = 0; ic < m; ic += MC) {
                const int64_t mc = m - ic < MC ? m - ic : MC;
                SUF(pack_a)(ap, a, ic, mc, pc, kc);
                for (int64_t jr = 0; jr < nc; jr += NR) {
                    const int64_t nr = nc - jr < NR ? nc - jr : NR;
                    for (int64_t ir = 0; ir < mc; ir += MR) {
                        const int64_t mr = mc - ir < MR ? mc - ir : MR;
                        SUF(ukernel)(kc, ap + ir * kc, bp + jr * kc,
                                     c + (ic + ir) * ldc + jc + jr, ldc, mr, nr);
                    }
                }
            }
        }
    }
    return CCNN_OK;
}

#endif /* REAL */
