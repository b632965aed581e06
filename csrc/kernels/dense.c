/* dense.c -- fully connected layer on the packed GEMM (see dense.h).
 * Typed bodies are instantiated for float and double by self-inclusion. */
#ifndef REAL
#include <stdlib.h>
#include <string.h>
#include "dense.h"
#include "gemm.h"
#include "kernels_common.h"

int ccnn_dense_dims_init(ccnn_dense_dims *d, int64_t n, int64_t in, int64_t units)
{
    if (n < 0 || in < 1 || units < 1) return CCNN_EBADARG;
    if (ccnn_product_overflows(3, n, in, (int64_t)sizeof(double)) ||
        ccnn_product_overflows(3, n, units, (int64_t)sizeof(double)) ||
        ccnn_product_overflows(3, in, units, (int64_t)sizeof(double)) ||
        ccnn_product_overflows(3, n, in, units))
        return CCNN_EOVERFLOW;
    d->n = n; d->in = in; d->units = units;
    return CCNN_OK;
}

/* Threads for an (m x n) output with k-long sums: one below ~64k multiply-adds. */
static int dense_threads(int nthreads, int64_t m, int64_t n, int64_t k)
{
    return ccnn_threads_for(nthreads, m * n * k / 2);
}

/* Parts the forward's sum over `in` is cut into: a small output (few
 * micro-tiles to share out, e.g. the textbook's 32 x 100 at batch 32) with a
 * long sum.  The partial products are then computed side by side -- each
 * thread packs only its part of inp and of the weight, where splitting the
 * output would have every thread pack all of one of them -- and added in
 * part order.  Depends on the shape only, never on the thread count. */
static int64_t dense_k_parts(int64_t n, int64_t units, int64_t in)
{
    if (n * units > 32768) return 1;
    return in >= 1024 ? 4 : in >= 512 ? 2 : 1;
}

/* Batches of at most this many rows take the small-batch forward
 * (dense_forward_small): the weight read in place, no packing.  For weights
 * of more than CCNN_DENSE_SMALL_W elements the packed GEMM pays for its
 * packing from a dozen rows or so: measured (float32, 1 thread, us, small /
 * GEMM) with the AVX-512 GEMM (ccnn_gemm_wide; Intel Xeon) 3136 x 128 (the
 * modern model's): n = 8 189 / 163, 16 356 / 229, 32 695 / 348; 1960 x 100
 * (the book's): 8 72 / 101, 16 137 / 135, 32 260 / 207; 512 x 10 at 32:
 * 17 / 24.  With the AVX2 GEMM (AMD Zen 3, CPU time under load) 1960 x 100:
 * n = 8 69-74 / 84-86, 10 93-122 / 81-82, 12 93 / 91-92, 16 127-155 /
 * 114-146, 24 166-229 / 152-154, 32 222-238 / 190-201 (2 threads, wall:
 * 149-196 / 115-117); 3136 x 128: 8 173-189 / 137-142, 16 297-316 / 215,
 * 32 600-606 / 364-417; 784 x 128: 8 29-30 / 33-35, 16 57-59 / 51.
 * CCNN_DENSE_SMALL_M in the environment overrides the row count (a tuning
 * aid, read once: kernels_common.h's ccnn_env_knob). */
#define CCNN_DENSE_SMALL_M 8
#define CCNN_DENSE_SMALL_M_WIDE 12
#define CCNN_DENSE_SMALL_W 65536
/* ... and at most this many rows whatever the GEMM, for weights up to CCNN_DENSE_SMALL_W */
#define CCNN_DENSE_SMALL_M_MAX 32
static int64_t dense_small_m(void)
{
    const int64_t e = ccnn_env_knob(CCNN_KNOB_DENSE_SMALL_M);
    return e >= 0 ? (e > (1 << 20) ? 1 << 20 : e)
                  : ccnn_gemm_wide() ? CCNN_DENSE_SMALL_M_WIDE : CCNN_DENSE_SMALL_M;
}

/* [lo, hi) of `len` split into nthr parts of whole `tile`s: part `tid`. */
static void split_tiles(int64_t len, int64_t tile, int64_t tid, int64_t nthr,
                        int64_t *lo, int64_t *hi)
{
    const int64_t tiles = (len + tile - 1) / tile;
    *lo = tiles * tid / nthr * tile;
    *hi = tiles * (tid + 1) / nthr * tile;
    if (*hi > len) *hi = len;
    if (*lo > len) *lo = len;
}

#define REAL float
#define SUF(name) name##_f32
#define NR_TILE 16
#include "dense.c"
#undef REAL
#undef SUF
#undef NR_TILE

#define REAL double
#define SUF(name) name##_f64
#define NR_TILE 8
#include "dense.c"
#undef REAL
#undef SUF
#undef NR_TILE

#else /* ---- typed bodies ---------------------------------------------------- */

/* C (m x n, ldc) += A (m x k) * B (k x n), A[i,p] = a[i*ars + p*acs],
 * B[p,j] = b[p*brs + j*bcs]; run by the calling team: each thread takes
 * whole 6-row tiles of C when m is the longer side, else whole NR-column
 * tiles.  overwrite: C = A * B instead of C += A * B.  Returns CCNN_OK or
 * CCNN_ENOMEM. */
static int SUF(team_gemm)(REAL *c, int64_t ldc, int64_t m, int64_t n, int64_t k,
                          const REAL *a, int64_t ars, int64_t acs,
                          const REAL *b, int64_t brs, int64_t bcs, int overwrite,
                          int64_t tid, int64_t nthr)
{
    int64_t lo, hi;
    const int by_rows = m / 6 >= n / NR_TILE;
    split_tiles(by_rows ? m : n, by_rows ? 6 : NR_TILE, tid, nthr, &lo, &hi);
    if (hi <= lo) return CCNN_OK;
    if (by_rows) {
        const ccnn_gemm_operand A = {CCNN_OPERAND_STRIDED, a + lo * ars, ars, acs, NULL, 0};
        const ccnn_gemm_operand B = {CCNN_OPERAND_STRIDED, b, brs, bcs, NULL, 0};
        return SUF(ccnn_gemm)(hi - lo, n, k, &A, &B, c + lo * ldc, ldc, overwrite, NULL);
    }
    const ccnn_gemm_operand A = {CCNN_OPERAND_STRIDED, a, ars, acs, NULL, 0};
    const ccnn_gemm_operand B = {CCNN_OPERAND_STRIDED, b + lo * bcs, brs, bcs, NULL, 0};
    return SUF(ccnn_gemm)(m, hi - lo, k, &A, &B, c + lo, ldc, overwrite, NULL);
}

/* out (n, units) = act(sum over the parts of inp[:, part] @ weight[part, :] + bias),
 * the parts' products side by side in part (a parts x n x units workspace) */
static int SUF(dense_forward_split)(REAL *out, const REAL *inp, const REAL *weight,
                                    const REAL *bias, const ccnn_dense_dims *d, int relu,
                                    int64_t parts, int nt)
{
    const int64_t N = d->n, IN = d->in, U = d->units;
    REAL *part = (REAL *)ccnn_workspace(CCNN_WS_ACT, sizeof(REAL) * (size_t)(parts * N * U));
    if (!part) return CCNN_ENOMEM;
    int err = CCNN_OK;
    (void)nt;
    #pragma omp parallel num_threads(nt)
    {
        int64_t tid, nthr;
        ccnn_team(&tid, &nthr);
        for (int64_t q = tid; q < parts; q += nthr) {   /* part q: columns [k0, k1) of inp */
            const int64_t k0 = IN * q / parts, k1 = IN * (q + 1) / parts;
            const ccnn_gemm_operand A = {CCNN_OPERAND_STRIDED, inp + k0, IN, 1, NULL, 0, 0, 0};
            const ccnn_gemm_operand B = {CCNN_OPERAND_STRIDED, weight + k0 * U, U, 1, NULL, 0, 0, 0};
            if (SUF(ccnn_gemm)(N, U, k1 - k0, &A, &B, part + q * N * U, U, 1, NULL) != CCNN_OK) {
                #pragma omp atomic write
                err = CCNN_ENOMEM;
            }
        }
        #pragma omp barrier
        const int64_t r0 = N * tid / nthr, r1 = N * (tid + 1) / nthr;   /* this thread's rows */
        for (int64_t i = r0; i < r1; i++) {   /* row by row, each pass a vector loop */
            REAL *restrict o = out + i * U;
            for (int64_t j = 0; j < U; j++) o[j] = bias ? bias[j] : (REAL)0;
            for (int64_t q = 0; q < parts; q++) {                /* (bias + p0) + p1 + ... */
                const REAL *restrict pq = part + q * N * U + i * U;
                for (int64_t j = 0; j < U; j++) o[j] += pq[j];
            }
            if (relu)
                for (int64_t j = 0; j < U; j++) o[j] = o[j] < 0 ? (REAL)0 : o[j];   /* NaN stays */
        }
    }
    return err;
}

/* The small-batch forward (ccnn_dense_forward: n <= dense_small_m()): tiles of up to 4 rows x
 * 2 vectors of columns, each output element summed as
 *     acc = bias[j];  acc += inp[i, k] * weight[k, j]  for k = 0, 1, ..., in-1
 * (the same order in every tile shape, on any thread count), reading the
 * weight's rows in place -- a GEMM would first pack the whole weight, which
 * at one image costs more than the product.  A last tile narrower than 2
 * vectors loads, in its unused lanes, the start of the weight's next row
 * (never stored); for the weight's last row, where that would pass its end,
 * it reads a zero-padded copy of the row's columns. */
typedef REAL SUF(dsvec) __attribute__((vector_size(32)));
typedef REAL SUF(dsvec_u) __attribute__((vector_size(32), aligned(sizeof(REAL)), may_alias));
#define DS_L ((int64_t)(32 / sizeof(REAL)))

/* out (mr, 2L) (leading dim ldo; only nc columns stored) of rows x (mr, K)
 * (leading dim ldx) times w (K, 2L) (leading dim ldw; rows kin.. read from
 * wtail (K - kin, 2L) instead) plus bias (2L) or NULL; mr in 1..4 (rows
 * past mr repeat the last and are not stored). */
static CCNN_DISPATCH void SUF(dense_small_tile)(REAL *restrict out, int64_t ldo,
                                                const REAL *restrict x, int64_t ldx, int64_t mr,
                                                const REAL *w, int64_t ldw, int64_t kin,
                                                const REAL *wtail,
                                                const REAL *restrict bias, int64_t K, int64_t nc,
                                                int relu)
{
    const int64_t L = DS_L;
    SUF(dsvec) b0 = {0}, b1 = {0};
    if (bias) {
        b0 = *(const SUF(dsvec_u) *)bias;
        b1 = *(const SUF(dsvec_u) *)(bias + L);
    }
    SUF(dsvec) acc[4][2];
    if (mr == 1) {   /* one row: two accumulators, no repeated work */
        SUF(dsvec) a0 = b0, a1 = b1;
        for (int64_t k = 0; k < K; k++) {
            const REAL xv = x[k];
            const REAL *wk = k < kin ? w + k * ldw : wtail + (k - kin) * 2 * L;
            a0 += xv * *(const SUF(dsvec_u) *)wk;
            a1 += xv * *(const SUF(dsvec_u) *)(wk + L);
        }
        acc[0][0] = a0;
        acc[0][1] = a1;
    } else {
        const REAL *x0 = x, *x1 = x + ldx, *x2 = x + (mr > 2 ? 2 : 1) * ldx;
        const REAL *x3 = x + (mr > 3 ? 3 : mr - 1) * ldx;
        SUF(dsvec) a00 = b0, a01 = b1, a10 = b0, a11 = b1, a20 = b0, a21 = b1, a30 = b0, a31 = b1;
        for (int64_t k = 0; k < K; k++) {
            const REAL *wk = k < kin ? w + k * ldw : wtail + (k - kin) * 2 * L;
            const SUF(dsvec) w0 = *(const SUF(dsvec_u) *)wk;
            const SUF(dsvec) w1 = *(const SUF(dsvec_u) *)(wk + L);
            const REAL v0 = x0[k], v1 = x1[k], v2 = x2[k], v3 = x3[k];
            a00 += v0 * w0; a01 += v0 * w1;
            a10 += v1 * w0; a11 += v1 * w1;
            a20 += v2 * w0; a21 += v2 * w1;
            a30 += v3 * w0; a31 += v3 * w1;
        }
        acc[0][0] = a00; acc[0][1] = a01; acc[1][0] = a10; acc[1][1] = a11;
        acc[2][0] = a20; acc[2][1] = a21; acc[3][0] = a30; acc[3][1] = a31;
    }
    for (int64_t i = 0; i < mr; i++) {
        REAL tmp[2 * 32 / sizeof(REAL)];
        *(SUF(dsvec_u) *)tmp = acc[i][0];
        *(SUF(dsvec_u) *)(tmp + L) = acc[i][1];
        REAL *o = out + i * ldo;
        for (int64_t j = 0; j < nc; j++)
            o[j] = relu && tmp[j] < 0 ? (REAL)0 : tmp[j];      /* NaN stays NaN */
    }
}

/* One row over up to 4 whole column tiles at once: out (nt * 2L) = x (K)
 * times w (K, nt * 2L) (leading dim ldw) plus bias or NULL, nt in 1..4.
 * The 8 accumulators are 8 independent sums, each in dense_small_tile's
 * order (bias, then k = 0, 1, ...): one row's 2 sums alone would wait on the
 * FMA latency at every k. */
static CCNN_DISPATCH void SUF(dense_small_row)(REAL *restrict out, const REAL *restrict x,
                                               const REAL *w, int64_t ldw,
                                               const REAL *restrict bias, int64_t K, int64_t nt,
                                               int relu)
{
    const int64_t L = DS_L;
    const int64_t o1 = (nt > 1 ? 1 : 0) * 2 * L, o2 = (nt > 2 ? 2 : 0) * 2 * L;
    const int64_t o3 = (nt > 3 ? 3 : 0) * 2 * L;          /* missing tiles repeat tile 0 */
    SUF(dsvec) a[8];
    const int64_t off[8] = {0, L, o1, o1 + L, o2, o2 + L, o3, o3 + L};
    for (int v = 0; v < 8; v++) {
        const SUF(dsvec) zero = {0};
        a[v] = zero;
        if (bias) a[v] = *(const SUF(dsvec_u) *)(bias + off[v]);
    }
    SUF(dsvec) a0 = a[0], a1 = a[1], a2 = a[2], a3 = a[3], a4 = a[4], a5 = a[5], a6 = a[6], a7 = a[7];
    for (int64_t k = 0; k < K; k++) {
        const REAL xv = x[k];
        const REAL *wk = w + k * ldw;
        a0 += xv * *(const SUF(dsvec_u) *)(wk + off[0]);
        a1 += xv * *(const SUF(dsvec_u) *)(wk + off[1]);
        a2 += xv * *(const SUF(dsvec_u) *)(wk + off[2]);
        a3 += xv * *(const SUF(dsvec_u) *)(wk + off[3]);
        a4 += xv * *(const SUF(dsvec_u) *)(wk + off[4]);
        a5 += xv * *(const SUF(dsvec_u) *)(wk + off[5]);
        a6 += xv * *(const SUF(dsvec_u) *)(wk + off[6]);
        a7 += xv * *(const SUF(dsvec_u) *)(wk + off[7]);
    }
    a[0] = a0; a[1] = a1; a[2] = a2; a[3] = a3; a[4] = a4; a[5] = a5; a[6] = a6; a[7] = a7;
    for (int v = 0; v < 2 * nt; v++) {
        REAL tmp[32 / sizeof(REAL)];
        *(SUF(dsvec_u) *)tmp = a[v];
        for (int64_t j = 0; j < L; j++)
            out[v * L + j] = relu && tmp[j] < 0 ? (REAL)0 : tmp[j];   /* NaN stays NaN */
    }
}

static int SUF(dense_forward_small)(REAL *out, const REAL *inp, const REAL *weight,
                                    const REAL *bias, const ccnn_dense_dims *d, int relu,
                                    int nthreads)
{
    const int64_t N = d->n, IN = d->in, U = d->units, NB = 2 * DS_L;
    const int64_t tiles = (U + NB - 1) / NB;                /* column tiles */
    /* threads only for ~256k multiply-adds and more: below, forking costs about
     * what it saves (the book model's 1 x 1960 x 100 runs in ~5 us on one; the
     * modern model's 1 x 3136 x 128, reading its 1.6 MB weight, ~70 us) */
    int nt = N * U * IN < ((int64_t)1 << 18) ? 1 : (nthreads < 1 ? 1 : nthreads);
    if (nt > tiles) nt = (int)tiles;
    /* a last single row's whole column tiles go 4 at a time (dense_small_row),
     * in the same parallel region as the tiles (one fork, no join between
     * them: the two loops write disjoint outputs) */
    const int64_t full = U / NB, groups = N % 4 == 1 ? (full + 3) / 4 : 0;
    /* tiles with work for dense_small_tile: at one row, only a narrow last one */
    const int64_t t0 = N == 1 ? full : 0;
    (void)nt;
    #pragma omp parallel num_threads(nt)
    {
    #pragma omp for schedule(static) nowait
    for (int64_t t = t0; t < tiles; t++) {
        const int64_t j0 = t * NB, nc = U - j0 < NB ? U - j0 : NB;
        const REAL *w = weight + j0, *wtail = NULL;
        /* a narrow last tile's loads pass its rows' end by NB - nc elements:
         * the rows for which that would pass the weight's end are padded */
        const int64_t over = (NB - nc + U - 1) / U;
        const int64_t kin = nc < NB ? (IN > over ? IN - over : 0) : IN;
        REAL bpad[2 * 32 / sizeof(REAL)], wpad[(2 * 32 / sizeof(REAL)) * (2 * 32 / sizeof(REAL))];
        const REAL *b = bias ? bias + j0 : NULL;
        if (nc < NB) {   /* over <= NB - 1 rows */
            for (int64_t j = 0; j < NB; j++) bpad[j] = bias && j < nc ? bias[j0 + j] : (REAL)0;
            for (int64_t k = kin; k < IN; k++)
                for (int64_t j = 0; j < NB; j++)
                    wpad[(k - kin) * NB + j] = j < nc ? weight[k * U + j0 + j] : (REAL)0;
            wtail = wpad;
            b = bias ? bpad : NULL;
        }
        for (int64_t i0 = 0; i0 < N; i0 += 4) {
            if (N - i0 == 1 && nc == NB) continue;     /* a last single row: below */
            SUF(dense_small_tile)(out + i0 * U + j0, U, inp + i0 * IN, IN,
                                  N - i0 < 4 ? N - i0 : 4, w, U, kin, wtail, b, IN, nc, relu);
        }
    }
    #pragma omp for schedule(static) nowait
    for (int64_t g = 0; g < groups; g++) {   /* the last row's whole tiles, 4 at a time */
        const int64_t i = N - 1, g0 = 4 * g, ntl = full - g0 < 4 ? full - g0 : 4;
        SUF(dense_small_row)(out + i * U + g0 * NB, inp + i * IN, weight + g0 * NB, U,
                             bias ? bias + g0 * NB : NULL, IN, ntl, relu);
    }
    }
    return CCNN_OK;
}
#undef DS_L

/* ccnn_dense_forward_f32, ccnn_dense_forward_f64 */
int SUF(ccnn_dense_forward)(REAL *out, const REAL *inp, const REAL *weight, const REAL *bias,
                            const ccnn_dense_dims *d, int relu, int nthreads)
{
    const int64_t N = d->n, IN = d->in, U = d->units;
    if (N == 0) return CCNN_OK;
    if (N <= dense_small_m() || (N <= CCNN_DENSE_SMALL_M_MAX && IN * U <= CCNN_DENSE_SMALL_W))
        return SUF(dense_forward_small)(out, inp, weight, bias, d, relu, nthreads);
    const int nt = dense_threads(nthreads, N, U, IN);
    const int64_t parts = dense_k_parts(N, U, IN);
    if (parts > 1) return SUF(dense_forward_split)(out, inp, weight, bias, d, relu, parts, nt);
    int err = CCNN_OK;
    (void)nt;
    #pragma omp parallel num_threads(nt)
    {
        int64_t tid, nthr;
        ccnn_team(&tid, &nthr);
        /* out rows [r0, r1) start as the bias; each thread fills its own rows */
        const int64_t r0 = N * tid / nthr, r1 = N * (tid + 1) / nthr;
        for (int64_t i = r0; i < r1; i++)
            for (int64_t j = 0; j < U; j++) out[i * U + j] = bias ? bias[j] : (REAL)0;
        #pragma omp barrier
        if (SUF(team_gemm)(out, U, N, U, IN, inp, IN, 1, weight, U, 1, 0, tid, nthr) != CCNN_OK) {
            #pragma omp atomic write
            err = CCNN_ENOMEM;
        }
        #pragma omp barrier
        if (relu)   /* epilogue: max(v, 0), NaN stays NaN */
            for (int64_t i = r0 * U; i < r1 * U; i++) out[i] = out[i] < 0 ? (REAL)0 : out[i];
    }
    return err;
}

/* ccnn_dense_backward_f32, ccnn_dense_backward_f64 */
int SUF(ccnn_dense_backward)(REAL *dinp, REAL *dweight, REAL *dbias, const REAL *dout,
                             const REAL *relu_out, const REAL *inp, const REAL *weight,
                             const ccnn_dense_dims *d, int nthreads)
{
    const int64_t N = d->n, IN = d->in, U = d->units;
    if (dbias) memset(dbias, 0, sizeof(REAL) * (size_t)U);
    if (N == 0) {   /* empty sums (the products below overwrite every element otherwise) */
        if (dweight) memset(dweight, 0, sizeof(REAL) * (size_t)(IN * U));
        return CCNN_OK;
    }
    const REAL *dz = dout;                                       /* (n, units) */
    if (relu_out) {
        REAL *restrict buf = (REAL *)ccnn_workspace(CCNN_WS_ACT, sizeof(REAL) * (size_t)(N * U));
        if (!buf) return CCNN_ENOMEM;
        const REAL *restrict dy = dout, *restrict y = relu_out;  /* restrict: a vector loop */
        for (int64_t i = 0; i < N * U; i++) buf[i] = dy[i] * (y[i] > 0 ? (REAL)1 : (REAL)0);
        dz = buf;
    }
    if (dbias) {   /* in sample order, like the reference's sum over axis 0 */
        REAL *restrict sb = dbias;
        for (int64_t i = 0; i < N; i++) {
            const REAL *restrict row = dz + i * U;
            for (int64_t j = 0; j < U; j++) sb[j] += row[j];
        }
    }
    const int nt = dense_threads(nthreads, N, U, IN);
    int err = CCNN_OK;
    (void)nt;
    #pragma omp parallel num_threads(nt)
    {
        int64_t tid, nthr;
        ccnn_team(&tid, &nthr);
        int e = CCNN_OK;
        if (dweight)   /* (in x units) = inp^T (in x n) * dz (n x units) */
            e |= SUF(team_gemm)(dweight, U, IN, U, N, inp, 1, IN, dz, U, 1, 1, tid, nthr);
        if (dinp)      /* (n x in) = dz (n x units) * weight^T (units x in) */
            e |= SUF(team_gemm)(dinp, IN, N, IN, U, dz, U, 1, weight, 1, U, 1, tid, nthr);
        if (e != CCNN_OK) {
            #pragma omp atomic write
            err = CCNN_ENOMEM;
        }
    }
    return err;
}

#endif /* REAL */
