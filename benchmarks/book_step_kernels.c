/* book_step_kernels.c -- the book model's training step (Conv2D(10, 3, same) +
 * ReLU + MaxPool(2) -> Flatten -> Dropout(0.5) -> Dense(100, relu) -> Dense(10)
 * softmax cross-entropy, Adam), kernel by kernel as the training plan calls
 * them (float32, random data), for two builds of csrc/kernels dlopen'ed side
 * by side and timed interleaved in this one process: medians in us.
 * Built and run by benchmarks/book_step_kernels.py.
 *
 *     book_step_kernels old.so new.so batch nthreads repeats wall|cpu
 *
 * cpu: this thread's CPU time (what a kernel costs on a loaded machine; at
 * 1 thread only); wall: the monotonic clock. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
typedef struct { int64_t n, c, h, w, k, r, s, p, q, sh, sw, dh, dw, pt, pb, pl, pr; } cdims;
typedef struct { int64_t n, in, units; } ddims;
typedef struct {
    int (*cdi)(cdims *, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t);
    int (*ddi)(ddims *, int64_t, int64_t, int64_t);
    int (*cpf)(float *, uint8_t *, const float *, const float *, const float *, const cdims *, int);
    int (*cpb)(float *, float *, const float *, const float *, const uint8_t *, const float *, const cdims *, int);
    int (*df)(float *, const float *, const float *, const float *, const ddims *, int, int);
    int (*db)(float *, float *, float *, const float *, const float *, const float *, const float *, const ddims *, int);
    void (*dsample)(float *, uint8_t *, const float *, int64_t, double, uint64_t, int);
    void (*dfwd)(float *, const float *, const uint8_t *, float, int64_t, int);
    void (*smx)(float *, const float *, int64_t, int64_t, int);
    void (*xf)(float *, float *, const float *, const int64_t *, int64_t, int64_t, int);
    void (*xb)(float *, const float *, const int64_t *, int64_t, int64_t, int);
    void (*adam)(int64_t, float *const *, float *const *, float *const *, float *const *, const float *const *, const int64_t *, const double *, double, const double *, float, float, float, float, int);
} lib;
static void *sym(void *h, const char *n) { void *p = dlsym(h, n); if (!p) { fprintf(stderr, "no %s\n", n); exit(1); } return p; }
static void load(lib *L, const char *path)
{
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) { fprintf(stderr, "%s\n", dlerror()); exit(1); }
    L->cdi = sym(h, "ccnn_conv2d_dims_init"); L->ddi = sym(h, "ccnn_dense_dims_init");
    L->cpf = sym(h, "ccnn_conv2d_relu_maxpool_forward_f32"); L->cpb = sym(h, "ccnn_conv2d_relu_maxpool_backward_f32");
    L->df = sym(h, "ccnn_dense_forward_f32"); L->db = sym(h, "ccnn_dense_backward_f32");
    L->dsample = sym(h, "ccnn_dropout_sample_f32"); L->dfwd = sym(h, "ccnn_dropout_forward_f32");
    L->smx = sym(h, "ccnn_softmax_forward_f32"); L->xf = sym(h, "ccnn_softmax_xent_forward_f32");
    L->xb = sym(h, "ccnn_softmax_xent_backward_f32"); L->adam = sym(h, "ccnn_adam_step_f32");
}
static clockid_t clk = CLOCK_MONOTONIC;
static double now(void) { struct timespec t; clock_gettime(clk, &t); return t.tv_sec + 1e-9 * t.tv_nsec; }
static float *rnd(int64_t n, float s) { float *p = malloc(n * 4); for (int64_t i = 0; i < n; i++) p[i] = s * ((float)rand() / RAND_MAX - 0.5f); return p; }
static int cmpd(const void *a, const void *b) { double x = *(double *)a, y = *(double *)b; return x < y ? -1 : x > y; }
enum { K_CPF, K_D1F, K_DROP, K_D2F, K_XENT, K_D2B, K_DROPB, K_D1B, K_CPB, K_ADAM, NK };
static const char *kname[NK] = {"conv+relu+pool fwd", "dense1 fwd (1960x100,relu)", "dropout sample", "dense2 fwd", "softmax+xent", "dense2 bwd", "dropout bwd", "dense1 bwd (dW,dX,relu)", "conv+relu+pool bwd", "adam 197210"};
int main(int argc, char **argv)
{
    if (argc != 7) { fprintf(stderr, "usage: %s old.so new.so batch nthreads repeats wall|cpu\n", argv[0]); return 2; }
    lib Ls[2]; load(&Ls[0], argv[1]); load(&Ls[1], argv[2]);
    const int64_t N = atoll(argv[3]); const int nt = atoi(argv[4]); int reps = atoi(argv[5]);
    if (strcmp(argv[6], "cpu") == 0) clk = CLOCK_THREAD_CPUTIME_ID;
    if (N < 1 || nt < 1 || reps < 1) return 2;
    if (reps > 4096) reps = 4096;
    cdims cd; ddims d1, d2;
    Ls[0].cdi(&cd, N, 1, 28, 28, 10, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1);
    Ls[0].ddi(&d1, N, 1960, 100); Ls[0].ddi(&d2, N, 100, 10);
    float *x = rnd(N * 784, 2), *cw = rnd(90, 1), *cb = rnd(10, 0.1f), *pool = rnd(N * 1960, 1);
    uint8_t *am = malloc(N * 1960), *mask = malloc(N * 1960);
    float *drop = rnd(N * 1960, 1), *W1 = rnd(196000, 0.05f), *b1 = rnd(100, 0.1f), *h1 = rnd(N * 100, 1);
    float *W2 = rnd(1000, 0.2f), *b2 = rnd(10, 0.1f), *lg = rnd(N * 10, 1), *pr = rnd(N * 10, 1), *rows = rnd(N, 1), *pr2 = rnd(N * 10, 1), *dl = rnd(N * 10, 1);
    float *dh1 = rnd(N * 100, 1), *dW2 = rnd(1000, 1), *db2 = rnd(10, 1), *ddrop = rnd(N * 1960, 1), *dW1 = rnd(196000, 1), *db1 = rnd(100, 1);
    float *dpool = rnd(N * 1960, 1), *dcw = rnd(90, 1), *dcb = rnd(10, 1);
    int64_t *lab = malloc(N * 8); for (int64_t i = 0; i < N; i++) lab[i] = i % 10;
    float *P[6] = {cw, cb, W1, b1, W2, b2}, *G[6] = {dcw, dcb, dW1, db1, dW2, db2}, *M[6], *V[6];
    int64_t nn[6] = {90, 10, 196000, 100, 1000, 10};
    for (int i = 0; i < 6; i++) { M[i] = rnd(nn[i], 0); V[i] = rnd(nn[i], 0); for (int64_t j = 0; j < nn[i]; j++) V[i][j] = 0.01f; }
    static double t[2][NK][4096];

    for (int it = -20; it < reps; it++) {
        for (int li = 0; li < 2; li++) {
            const int l = (it & 1) ? 1 - li : li;
            lib *L = &Ls[l];
            double tk[NK];
#define T(k, call) do { double a = now(); call; tk[k] = now() - a; } while (0)
            T(K_CPF, L->cpf(pool, am, x, cw, cb, &cd, nt));
            T(K_DROP, L->dsample(drop, mask, pool, N * 1960, 0.5, 1234 + it, nt));
            T(K_D1F, L->df(h1, drop, W1, b1, &d1, 1, nt));
            T(K_D2F, L->df(lg, h1, W2, b2, &d2, 0, nt));
            T(K_XENT, (L->smx(pr, lg, N, 10, nt), L->xf(rows, pr2, lg, lab, N, 10, nt), L->xb(dl, pr2, lab, N, 10, nt)));
            T(K_D2B, L->db(dh1, dW2, db2, dl, NULL, h1, W2, &d2, nt));
            T(K_D1B, L->db(ddrop, dW1, db1, dh1, h1, drop, W1, &d1, nt));
            T(K_DROPB, L->dfwd(dpool, ddrop, mask, 2.0f, N * 1960, nt));
            T(K_CPB, (memset(dcw, 0, 360), memset(dcb, 0, 40), L->cpb(dcw, dcb, dpool, pool, am, x, &cd, nt)));
            T(K_ADAM, L->adam(6, P, M, V, NULL, (const float *const *)G, nn, NULL, __builtin_inf(), NULL, 1e-4f, 0.9f, 0.999f, 1e-7f, nt));
            if (it >= 0) for (int k = 0; k < NK; k++) t[l][k][it] = tk[k];
        }
    }
    printf("batch %lld, %d thread(s), %d interleaved repeats, %s time, median us: old new new/old\n",
           (long long)N, nt, reps, argv[6]);
    double sum[2] = {0, 0};
    for (int k = 0; k < NK; k++) {
        double m[2];
        for (int l = 0; l < 2; l++) {
            qsort(t[l][k], reps, sizeof(double), cmpd);
            m[l] = t[l][k][reps / 2] * 1e6;
            sum[l] += m[l];
        }
        printf("  %-28s %9.1f %9.1f  %.3f\n", kname[k], m[0], m[1], m[1] / m[0]);
    }
    printf("  %-28s %9.1f %9.1f  %.3f\n", "step (sum of the medians)", sum[0], sum[1], sum[1] / sum[0]);
    return 0;
}
