/* runtime.c -- build and run-time facts reported by ccnn.show_config(), and
 * the kernels' tuning knobs from the environment (kernels_common.h). */
#include <stdlib.h>
#include "kernels_common.h"

static const char *const knob_names[CCNN_KNOB_COUNT] = {
    [CCNN_KNOB_WINO_SMALL_CK_TILES] = "CCNN_WINO_SMALL_CK_TILES",
    [CCNN_KNOB_WINO_MIN_CALL_TILES] = "CCNN_WINO_MIN_CALL_TILES",
    [CCNN_KNOB_WINO_WGRAD] = "CCNN_WINO_WGRAD",
    [CCNN_KNOB_DENSE_SMALL_M] = "CCNN_DENSE_SMALL_M",
};

/* each knob's value + 2 once read (>= 1), 0 until then */
static int64_t knob_state[CCNN_KNOB_COUNT];

/* The whole decimal number >= 0 that s is (capped at 2^40), else -1. */
static int64_t parse_knob(const char *s)
{
    const int64_t cap = (int64_t)1 << 40;
    if (s == NULL || *s == 0) return -1;
    int64_t v = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9') return -1;
        v = v * 10 + (*s - '0');
        if (v > cap) v = cap;
    }
    return v;
}

int64_t ccnn_env_knob(int knob)
{
    int64_t s = __atomic_load_n(&knob_state[knob], __ATOMIC_RELAXED);
    if (s == 0) {
        s = parse_knob(getenv(knob_names[knob])) + 2;
        __atomic_store_n(&knob_state[knob], s, __ATOMIC_RELAXED);
    }
    return s - 2;
}

void ccnn_env_reread(void)
{
    for (int k = 0; k < CCNN_KNOB_COUNT; k++)
        __atomic_store_n(&knob_state[k], 0, __ATOMIC_RELAXED);
}

const char *ccnn_simd_path(void)
{
#if defined(CCNN_HAVE_TARGET_CLONES) && defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("x86-64-v4")) return "x86-64-v4 (AVX-512)";
    if (__builtin_cpu_supports("x86-64-v3")) return "x86-64-v3 (AVX2+FMA)";
    return "baseline (SSE2)";
#elif defined(__aarch64__)
    return "baseline (NEON)";
#else
    return "baseline (no runtime dispatch)";
#endif
}

int ccnn_have_openmp(void)
{
#ifdef _OPENMP
    return 1;
#else
    return 0;
#endif
}

int ccnn_max_threads(void)
{
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}
