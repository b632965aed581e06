/* ccnn_template.h -- a kernel file's typed bodies, instantiated for float and
 * double (a C stand-in for Cython's fused types).
 *
 * The file writes its typed bodies once, under the `#else` of an `#ifndef REAL`
 * block, with REAL for the element type and SUF(name) for name_f32 / name_f64,
 * and ends the untyped part with
 *
 *     #define CCNN_TEMPLATE "this_file.c"
 *     #include "ccnn_template.h"
 *
 * which includes the file into itself twice: REAL = float, SUF = _f32, then
 * REAL = double, SUF = _f64.  (No include guard: each inclusion instantiates
 * the file CCNN_TEMPLATE names.)
 * Each public kernel's templated definition names its two instances in a
 * comment, so that grepping ccnn_NAME_f32 finds it. */
#define REAL float
#define SUF(name) name##_f32
#include CCNN_TEMPLATE
#undef REAL
#undef SUF

#define REAL double
#define SUF(name) name##_f64
#include CCNN_TEMPLATE
#undef REAL
#undef SUF
#undef CCNN_TEMPLATE
