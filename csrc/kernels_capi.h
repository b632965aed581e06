/* kernels_capi.h -- call ccnn's C kernels from another package's C extension
 * without linking against ccnn.
 *
 * The extension module ccnn.kernels exports a table of function pointers in
 * the capsule "ccnn.kernels._C_API" (as numpy exports PyArray_API).  Include
 * this header (directory: ccnn.get_include()), call ccnn_import_kernels()
 * once with the GIL held (e.g. in your module's init function), then call
 * the kernels through the table, with or without the GIL:
 *
 *     #include <Python.h>
 *     #include "ccnn/kernels_capi.h"
 *
 *     static const ccnn_kernels_api *ccnn;
 *
 *     PyMODINIT_FUNC PyInit_mymod(void) {
 *         ccnn = ccnn_import_kernels();
 *         if (ccnn == NULL) return NULL;          // ImportError is set
 *         ...
 *     }
 *     ...
 *     ccnn_conv2d_dims d;
 *     if (ccnn->conv2d_dims_init(&d, n, c, h, w, k, r, s, 1, 1, 1, 1, 1, 1, 1, 1) != CCNN_OK) ...
 *     Py_BEGIN_ALLOW_THREADS
 *     err = ccnn->conv2d_forward_f32(y, x, weight, bias, &d, 1);
 *     Py_END_ALLOW_THREADS
 *
 * Each entry is the kernel of the same name in ccnn.h with the "ccnn_"
 * prefix dropped: same arguments, same return value, same documentation.
 * Cython code uses `from ccnn.kernels cimport ...` instead (ccnn/kernels.pxd).
 *
 * Compatibility: entries are only ever appended at the end of the struct,
 * never inserted or reordered, so a module built against these headers keeps
 * working with later ccnn releases; `abi_version` changes only if an existing
 * entry has to change (appending does not: the `size` field tells the tables
 * apart).  ccnn_import_kernels() refuses a table of another ABI version, or
 * one older (smaller) than these headers.
 *
 * Entries by release (ABI version 1 throughout):
 *   0.1.0        abi_version ... sgd_update_f64
 *   after 0.1.0  appended after sgd_update_f64: conv2d_relu_* and
 *                conv2d_relu_maxpool_* (conv2d.h), dense_dims_init and
 *                dense_* (dense.h), dropout_sample_* (activation.h),
 *                adam_update_many_* and all_finite_* (optim.h),
 *                transpose_batched_* (layout.h)
 */
#ifndef CCNN_KERNELS_CAPI_H
#define CCNN_KERNELS_CAPI_H
#include "ccnn.h"
#ifdef __cplusplus
extern "C" {
#endif

#define CCNN_KERNELS_ABI_VERSION 1
#define CCNN_KERNELS_CAPSULE "ccnn.kernels._C_API"

typedef struct ccnn_kernels_api {
    unsigned int abi_version;           /* CCNN_KERNELS_ABI_VERSION of the loaded ccnn */
    unsigned int size;                  /* sizeof(ccnn_kernels_api) of the loaded ccnn */

    /* build facts (ccnn_common.h) */
    const char *(*simd_path)(void);
    int (*have_openmp)(void);
    int (*max_threads)(void);

    /* conv2d.h */
    int (*conv2d_dims_init)(ccnn_conv2d_dims *d, int64_t n, int64_t c, int64_t h, int64_t w,
                            int64_t k, int64_t r, int64_t s, int64_t stride_h, int64_t stride_w,
                            int64_t dil_h, int64_t dil_w, int64_t pad_top, int64_t pad_bottom,
                            int64_t pad_left, int64_t pad_right);
    int (*conv2d_algo)(const ccnn_conv2d_dims *d, int backward);
    int (*conv2d_forward_f32)(float *out, const float *inp, const float *weight,
                              const float *bias, const ccnn_conv2d_dims *d, int nthreads);
    int (*conv2d_forward_f64)(double *out, const double *inp, const double *weight,
                              const double *bias, const ccnn_conv2d_dims *d, int nthreads);
    int (*conv2d_backward_f32)(float *dinp, float *dweight, float *dbias, const float *dout,
                               const float *inp, const float *weight,
                               const ccnn_conv2d_dims *d, int nthreads);
    int (*conv2d_backward_f64)(double *dinp, double *dweight, double *dbias,
                               const double *dout, const double *inp, const double *weight,
                               const ccnn_conv2d_dims *d, int nthreads);

    /* pool.h */
    int (*pool2d_dims_init)(ccnn_pool2d_dims *d, int64_t n, int64_t c, int64_t h, int64_t w,
                            int64_t kh, int64_t kw, int64_t stride_h, int64_t stride_w,
                            int64_t pad_top, int64_t pad_bottom, int64_t pad_left,
                            int64_t pad_right, int ceil_mode, int count_include_pad);
    void (*max_pool2d_forward_f32)(float *out, int64_t *argmax, const float *inp,
                                   const ccnn_pool2d_dims *d, int nthreads);
    void (*max_pool2d_forward_f64)(double *out, int64_t *argmax, const double *inp,
                                   const ccnn_pool2d_dims *d, int nthreads);
    void (*max_pool2d_backward_f32)(float *dinp, const float *dout, const int64_t *argmax,
                                    const ccnn_pool2d_dims *d, int nthreads);
    void (*max_pool2d_backward_f64)(double *dinp, const double *dout, const int64_t *argmax,
                                    const ccnn_pool2d_dims *d, int nthreads);
    void (*avg_pool2d_forward_f32)(float *out, const float *inp, const ccnn_pool2d_dims *d,
                                   int nthreads);
    void (*avg_pool2d_forward_f64)(double *out, const double *inp, const ccnn_pool2d_dims *d,
                                   int nthreads);
    void (*avg_pool2d_backward_f32)(float *dinp, const float *dout, const ccnn_pool2d_dims *d,
                                    int nthreads);
    void (*avg_pool2d_backward_f64)(double *dinp, const double *dout,
                                    const ccnn_pool2d_dims *d, int nthreads);

    /* activation.h (dropout_backward is dropout_forward applied to dout) */
    void (*relu_forward_f32)(float *out, const float *inp, int64_t n, int nthreads);
    void (*relu_forward_f64)(double *out, const double *inp, int64_t n, int nthreads);
    void (*relu_backward_f32)(float *dinp, const float *dout, const float *inp, int64_t n,
                              int nthreads);
    void (*relu_backward_f64)(double *dinp, const double *dout, const double *inp, int64_t n,
                              int nthreads);
    void (*dropout_forward_f32)(float *out, const float *inp, const uint8_t *mask, float scale,
                                int64_t n, int nthreads);
    void (*dropout_forward_f64)(double *out, const double *inp, const uint8_t *mask,
                                double scale, int64_t n, int nthreads);

    /* correlate.h: returns CCNN_EBADARG, writing nothing, when the window
     * (ho, wo) at (off_h, off_w) does not lie inside the full correlation */
    int (*correlate2d_f32)(float *out, const float *a, const float *v,
                           const ccnn_correlate_dims *d, int nthreads);
    int (*correlate2d_f64)(double *out, const double *a, const double *v,
                           const ccnn_correlate_dims *d, int nthreads);

    /* loss.h */
    void (*softmax_forward_f32)(float *probs, const float *logits, int64_t n, int64_t classes,
                                int nthreads);
    void (*softmax_forward_f64)(double *probs, const double *logits, int64_t n,
                                int64_t classes, int nthreads);
    void (*softmax_backward_f32)(float *dinp, const float *dout, const float *probs, int64_t n,
                                 int64_t classes, int nthreads);
    void (*softmax_backward_f64)(double *dinp, const double *dout, const double *probs,
                                 int64_t n, int64_t classes, int nthreads);
    void (*softmax_xent_forward_f32)(float *loss_per_row, float *probs, const float *logits,
                                     const int64_t *labels, int64_t n, int64_t classes,
                                     int nthreads);
    void (*softmax_xent_forward_f64)(double *loss_per_row, double *probs,
                                     const double *logits, const int64_t *labels, int64_t n,
                                     int64_t classes, int nthreads);
    void (*softmax_xent_backward_f32)(float *dlogits, const float *probs,
                                      const int64_t *labels, int64_t n, int64_t classes,
                                      int nthreads);
    void (*softmax_xent_backward_f64)(double *dlogits, const double *probs,
                                      const int64_t *labels, int64_t n, int64_t classes,
                                      int nthreads);
    void (*softmax_xent_dense_forward_f32)(float *loss_per_row, float *probs,
                                           const float *logits, const float *targets,
                                           int64_t n, int64_t classes, int nthreads);
    void (*softmax_xent_dense_forward_f64)(double *loss_per_row, double *probs,
                                           const double *logits, const double *targets,
                                           int64_t n, int64_t classes, int nthreads);
    void (*softmax_xent_dense_backward_f32)(float *dlogits, const float *probs,
                                            const float *targets, int64_t n, int64_t classes,
                                            int nthreads);
    void (*softmax_xent_dense_backward_f64)(double *dlogits, const double *probs,
                                            const double *targets, int64_t n, int64_t classes,
                                            int nthreads);

    /* optim.h */
    void (*adam_update_f32)(float *param, float *m, float *v, const float *grad, int64_t n,
                            float lr_t, float beta1, float beta2, float eps, int nthreads);
    void (*adam_update_f64)(double *param, double *m, double *v, const double *grad, int64_t n,
                            double lr_t, double beta1, double beta2, double eps, int nthreads);
    void (*sgd_update_f32)(float *param, float *velocity, const float *grad, int64_t n,
                           float lr, float momentum, int nesterov, int nthreads);
    void (*sgd_update_f64)(double *param, double *velocity, const double *grad, int64_t n,
                           double lr, double momentum, int nesterov, int nthreads);

    /* ---- appended after 0.1.0 (see above); later entries go below these ---- */

    /* conv2d.h: fused with a ReLU; fused with a ReLU and 2x2 / stride-2 max
     * pooling (CCNN_EBADARG unless conv2d_relu_maxpool_supported(d)) */
    int (*conv2d_relu_forward_f32)(float *out, const float *inp, const float *weight,
                                   const float *bias, const ccnn_conv2d_dims *d, int nthreads);
    int (*conv2d_relu_forward_f64)(double *out, const double *inp, const double *weight,
                                   const double *bias, const ccnn_conv2d_dims *d, int nthreads);
    int (*conv2d_relu_backward_f32)(float *dinp, float *dweight, float *dbias,
                                    const float *dout, const float *out, const float *inp,
                                    const float *weight, const ccnn_conv2d_dims *d,
                                    int nthreads);
    int (*conv2d_relu_backward_f64)(double *dinp, double *dweight, double *dbias,
                                    const double *dout, const double *out, const double *inp,
                                    const double *weight, const ccnn_conv2d_dims *d,
                                    int nthreads);
    int (*conv2d_relu_maxpool_supported)(const ccnn_conv2d_dims *d);
    int (*conv2d_relu_maxpool_forward_f32)(float *out, uint8_t *argmax, const float *inp,
                                           const float *weight, const float *bias,
                                           const ccnn_conv2d_dims *d, int nthreads);
    int (*conv2d_relu_maxpool_forward_f64)(double *out, uint8_t *argmax, const double *inp,
                                           const double *weight, const double *bias,
                                           const ccnn_conv2d_dims *d, int nthreads);
    int (*conv2d_relu_maxpool_backward_f32)(float *dweight, float *dbias, const float *dout,
                                            const float *out, const uint8_t *argmax,
                                            const float *inp, const ccnn_conv2d_dims *d,
                                            int nthreads);
    int (*conv2d_relu_maxpool_backward_f64)(double *dweight, double *dbias,
                                            const double *dout, const double *out,
                                            const uint8_t *argmax, const double *inp,
                                            const ccnn_conv2d_dims *d, int nthreads);

    /* dense.h */
    int (*dense_dims_init)(ccnn_dense_dims *d, int64_t n, int64_t in, int64_t units);
    int (*dense_forward_f32)(float *out, const float *inp, const float *weight,
                             const float *bias, const ccnn_dense_dims *d, int relu,
                             int nthreads);
    int (*dense_forward_f64)(double *out, const double *inp, const double *weight,
                             const double *bias, const ccnn_dense_dims *d, int relu,
                             int nthreads);
    int (*dense_backward_f32)(float *dinp, float *dweight, float *dbias, const float *dout,
                              const float *relu_out, const float *inp, const float *weight,
                              const ccnn_dense_dims *d, int nthreads);
    int (*dense_backward_f64)(double *dinp, double *dweight, double *dbias,
                              const double *dout, const double *relu_out, const double *inp,
                              const double *weight, const ccnn_dense_dims *d, int nthreads);

    /* activation.h */
    void (*dropout_sample_f32)(float *out, uint8_t *mask, const float *inp, int64_t n,
                               double rate, uint64_t seed, int nthreads);
    void (*dropout_sample_f64)(double *out, uint8_t *mask, const double *inp, int64_t n,
                               double rate, uint64_t seed, int nthreads);

    /* optim.h */
    void (*adam_update_many_f32)(int64_t count, float *const *param, float *const *m,
                                 float *const *v, const float *const *grad, const int64_t *n,
                                 float lr_t, float beta1, float beta2, float eps, int nthreads);
    void (*adam_update_many_f64)(int64_t count, double *const *param, double *const *m,
                                 double *const *v, const double *const *grad,
                                 const int64_t *n, double lr_t, double beta1, double beta2,
                                 double eps, int nthreads);
    int (*all_finite_f32)(int64_t count, const float *const *a, const int64_t *n,
                          int nthreads);
    int (*all_finite_f64)(int64_t count, const double *const *a, const int64_t *n,
                          int nthreads);

    /* layout.h */
    void (*transpose_batched_f32)(float *out, const float *inp, int64_t n, int64_t a,
                                  int64_t b, int nthreads);
    void (*transpose_batched_f64)(double *out, const double *inp, int64_t n, int64_t a,
                                  int64_t b, int nthreads);
} ccnn_kernels_api;

#ifdef Py_PYTHON_H
/* Import ccnn.kernels and return its table, or set an exception (ImportError)
 * and return NULL.  Needs the GIL; the table stays valid while the process
 * runs (ccnn.kernels is never unloaded). */
static inline const ccnn_kernels_api *ccnn_import_kernels(void)
{
    PyObject *module = PyImport_ImportModule("ccnn.kernels");
    if (module == NULL)
        return NULL;
    PyObject *capsule = PyObject_GetAttrString(module, "_C_API");
    Py_DECREF(module);
    if (capsule == NULL)
        return NULL;
    const ccnn_kernels_api *api =
        (const ccnn_kernels_api *)PyCapsule_GetPointer(capsule, CCNN_KERNELS_CAPSULE);
    Py_DECREF(capsule);  /* the module keeps the capsule, and the table, alive */
    if (api == NULL)
        return NULL;
    if (api->abi_version != CCNN_KERNELS_ABI_VERSION) {
        PyErr_Format(PyExc_ImportError,
                     "ccnn.kernels has C-API ABI version %u, this module was built for %d: "
                     "rebuild it against the installed ccnn", api->abi_version,
                     CCNN_KERNELS_ABI_VERSION);
        return NULL;
    }
    if (api->size < sizeof(ccnn_kernels_api)) {
        PyErr_Format(PyExc_ImportError,
                     "the installed ccnn.kernels is older than the headers this module was "
                     "built with (table of %u bytes, expected %u): upgrade ccnn",
                     api->size, (unsigned int)sizeof(ccnn_kernels_api));
        return NULL;
    }
    return api;
}
#endif /* Py_PYTHON_H */

#ifdef __cplusplus
}
#endif
#endif /* CCNN_KERNELS_CAPI_H */
