/* runtime.c -- build and run-time facts reported by ccnn.show_config(). */
#include "ccnn_common.h"

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
