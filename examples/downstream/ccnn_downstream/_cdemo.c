/* ccnn_downstream._cdemo -- ccnn's kernels called from plain C.
 *
 * The module fetches ccnn's function table once, at import
 * (ccnn_import_kernels() in ccnn/kernels_capi.h, the capsule
 * "ccnn.kernels._C_API"); nothing of ccnn is linked.  Arrays arrive through
 * the buffer protocol, so this file needs no numpy headers either.
 *
 *   conv2d_into(out, x, weight, padding=0)  out = conv2d(x, weight), stride 1,
 *                                           float32, C-contiguous, no bias
 *   conv2d_relu_maxpool_into(out, argmax, x, weight, padding=0)
 *                                           out, argmax = the fused conv (stride 1,
 *                                           no bias) -> ReLU -> 2x2 max pool; float32
 *                                           out, uint8 argmax
 *   dense_into(out, x, weight, bias=None, relu=False)
 *                                           out = x @ weight (+ bias) (ReLU), float32
 *   relu_(a)                                a = max(a, 0) in place, float32 or float64
 *   simd_path()                             the SIMD path ccnn runs on this CPU
 *
 * dense_into and conv2d_relu_maxpool_into call entries that were appended to
 * the table after ccnn 0.1.0: built against these headers, the module imports
 * only with a ccnn whose table has them (ccnn_import_kernels checks `size`).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>
#include "ccnn/kernels_capi.h"

static const ccnn_kernels_api *ccnn;

/* A C-contiguous buffer of `ndim` dimensions (any when 0) whose format is one
 * of the characters of `formats` ("f" float32, "d" float64, "B" uint8),
 * described as `what` in the error; 0 on success, -1 with an exception set. */
static int get_buffer(PyObject *obj, Py_buffer *view, int ndim, int writable,
                      const char *formats, const char *what, const char *name)
{
    int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(obj, view, flags) < 0)
        return -1;
    const char *f = view->format ? view->format : "B";
    if (f[0] == '<' || f[0] == '=' || f[0] == '@')
        f++;
    int ok_format = f[0] != '\0' && f[1] == '\0' && strchr(formats, f[0]) != NULL;
    if (!ok_format || (ndim > 0 && view->ndim != ndim)) {
        PyErr_Format(PyExc_TypeError, "%s must be a C-contiguous %d-D %s array", name, ndim,
                     what);
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

/* One argument's buffer, for get_buffers: as get_buffer's arguments. */
typedef struct {
    PyObject *obj;
    Py_buffer *view;
    int ndim, writable;
    const char *formats, *what, *name;
} buffer_arg;

/* A C-contiguous float32 argument of `ndim` dimensions. */
#define F32_ARG(obj, view, ndim, writable, name) {obj, view, ndim, writable, "f", "float32", name}

/* get_buffer of args[0 .. n) in order; when one fails, those already taken
 * are released: 0, or -1 with an exception set. */
static int get_buffers(const buffer_arg *args, int n)
{
    for (int i = 0; i < n; i++) {
        const buffer_arg *a = &args[i];
        if (get_buffer(a->obj, a->view, a->ndim, a->writable, a->formats, a->what, a->name) < 0) {
            while (i-- > 0)
                PyBuffer_Release(args[i].view);
            return -1;
        }
    }
    return 0;
}

static void release_buffers(const buffer_arg *args, int n)
{
    for (int i = 0; i < n; i++)
        PyBuffer_Release(args[i].view);
}

/* A C-contiguous float32 (or float64 when allow_double) buffer of `ndim` dimensions. */
static int get_array(PyObject *obj, Py_buffer *view, int ndim, int writable, int allow_double,
                     const char *name)
{
    return get_buffer(obj, view, ndim, writable, allow_double ? "fd" : "f",
                      allow_double ? "float32 or float64" : "float32", name);
}

static PyObject *conv2d_into(PyObject *self, PyObject *args)
{
    PyObject *out_obj, *x_obj, *w_obj;
    Py_ssize_t pad = 0;
    Py_buffer out, x, w;
    if (!PyArg_ParseTuple(args, "OOO|n:conv2d_into", &out_obj, &x_obj, &w_obj, &pad))
        return NULL;
    const buffer_arg bufs[] = {F32_ARG(out_obj, &out, 4, 1, "out"), F32_ARG(x_obj, &x, 4, 0, "x"),
                               F32_ARG(w_obj, &w, 4, 0, "weight")};
    if (get_buffers(bufs, 3) < 0)
        return NULL;
    PyObject *result = NULL;
    ccnn_conv2d_dims d;
    int err = ccnn->conv2d_dims_init(&d, x.shape[0], x.shape[1], x.shape[2], x.shape[3],
                                     w.shape[0], w.shape[2], w.shape[3], 1, 1, 1, 1,
                                     pad, pad, pad, pad);
    if (err != CCNN_OK || w.shape[1] != x.shape[1]) {
        PyErr_Format(PyExc_ValueError, "invalid conv2d geometry (ccnn error %d)", err);
        goto done;
    }
    if (out.shape[0] != d.n || out.shape[1] != d.k || out.shape[2] != d.p || out.shape[3] != d.q) {
        PyErr_Format(PyExc_ValueError, "out must have shape (%lld, %lld, %lld, %lld)",
                     (long long)d.n, (long long)d.k, (long long)d.p, (long long)d.q);
        goto done;
    }
    if (d.n > 0) {
        Py_BEGIN_ALLOW_THREADS
        err = ccnn->conv2d_forward_f32((float *)out.buf, (const float *)x.buf,
                                       (const float *)w.buf, NULL, &d, 1);
        Py_END_ALLOW_THREADS
        if (err != CCNN_OK) {
            PyErr_NoMemory();
            goto done;
        }
    }
    result = Py_NewRef(Py_None);
done:
    release_buffers(bufs, 3);
    return result;
}

/* conv2d_relu_maxpool_into(out, argmax, x, weight, padding=0): the fused
 * conv -> ReLU -> 2x2 / stride-2 max pool, stride 1, no bias (appended entries
 * conv2d_relu_maxpool_supported and conv2d_relu_maxpool_forward_f32). */
static PyObject *conv2d_relu_maxpool_into(PyObject *self, PyObject *args)
{
    PyObject *out_obj, *argmax_obj, *x_obj, *w_obj;
    Py_ssize_t pad = 0;
    Py_buffer out, argmax, x, w;
    if (!PyArg_ParseTuple(args, "OOOO|n:conv2d_relu_maxpool_into", &out_obj, &argmax_obj,
                          &x_obj, &w_obj, &pad))
        return NULL;
    const buffer_arg bufs[] = {F32_ARG(out_obj, &out, 4, 1, "out"),
                               {argmax_obj, &argmax, 4, 1, "B", "uint8", "argmax"},
                               F32_ARG(x_obj, &x, 4, 0, "x"), F32_ARG(w_obj, &w, 4, 0, "weight")};
    if (get_buffers(bufs, 4) < 0)
        return NULL;
    PyObject *result = NULL;
    ccnn_conv2d_dims d;
    Py_ssize_t shape[4];
    int err = ccnn->conv2d_dims_init(&d, x.shape[0], x.shape[1], x.shape[2], x.shape[3],
                                     w.shape[0], w.shape[2], w.shape[3], 1, 1, 1, 1,
                                     pad, pad, pad, pad);
    if (err != CCNN_OK || w.shape[1] != x.shape[1]) {
        PyErr_Format(PyExc_ValueError, "invalid conv2d geometry (ccnn error %d)", err);
        goto done;
    }
    if (!ccnn->conv2d_relu_maxpool_supported(&d)) {
        PyErr_SetString(PyExc_ValueError, "conv2d_relu_maxpool is not supported for this "
                        "geometry (c*r*s must be < 32, the conv output at least 2 x 2)");
        goto done;
    }
    shape[0] = d.n;                           /* (n, k, p/2, q/2) */
    shape[1] = d.k;
    shape[2] = d.p / 2;
    shape[3] = d.q / 2;
    for (int i = 0; i < 4; i++) {
        if (out.shape[i] != shape[i] || argmax.shape[i] != shape[i]) {
            PyErr_Format(PyExc_ValueError, "out and argmax must have shape (%zd, %zd, %zd, %zd)",
                         shape[0], shape[1], shape[2], shape[3]);
            goto done;
        }
    }
    if (d.n > 0) {
        Py_BEGIN_ALLOW_THREADS
        err = ccnn->conv2d_relu_maxpool_forward_f32((float *)out.buf, (uint8_t *)argmax.buf,
                                                    (const float *)x.buf, (const float *)w.buf,
                                                    NULL, &d, 1);
        Py_END_ALLOW_THREADS
        if (err == CCNN_ENOMEM) {
            PyErr_NoMemory();
            goto done;
        }
        if (err != CCNN_OK) {
            PyErr_Format(PyExc_RuntimeError, "conv2d_relu_maxpool_forward_f32: ccnn error %d",
                         err);
            goto done;
        }
    }
    result = Py_NewRef(Py_None);
done:
    release_buffers(bufs, 4);
    return result;
}

/* dense_into(out, x, weight, bias=None, relu=False): out (n, units) =
 * x (n, in) @ weight (in, units) + bias (units), then max(., 0) when relu
 * (appended entries dense_dims_init and dense_forward_f32). */
static PyObject *dense_into(PyObject *self, PyObject *args)
{
    PyObject *out_obj, *x_obj, *w_obj, *b_obj = Py_None;
    int relu = 0;
    Py_buffer out, x, w, b;
    if (!PyArg_ParseTuple(args, "OOO|Op:dense_into", &out_obj, &x_obj, &w_obj, &b_obj, &relu))
        return NULL;
    const int have_bias = b_obj != Py_None, nbufs = have_bias ? 4 : 3;
    const buffer_arg bufs[] = {F32_ARG(out_obj, &out, 2, 1, "out"), F32_ARG(x_obj, &x, 2, 0, "x"),
                               F32_ARG(w_obj, &w, 2, 0, "weight"),
                               F32_ARG(b_obj, &b, 1, 0, "bias")};
    if (get_buffers(bufs, nbufs) < 0)
        return NULL;
    PyObject *result = NULL;
    ccnn_dense_dims d;
    int err = ccnn->dense_dims_init(&d, x.shape[0], x.shape[1], w.shape[1]);
    if (err != CCNN_OK || w.shape[0] != x.shape[1]) {
        PyErr_Format(PyExc_ValueError, "invalid dense geometry (ccnn error %d)", err);
        goto done;
    }
    if (have_bias && b.shape[0] != d.units) {
        PyErr_Format(PyExc_ValueError, "bias must have shape (%lld,)", (long long)d.units);
        goto done;
    }
    if (out.shape[0] != d.n || out.shape[1] != d.units) {
        PyErr_Format(PyExc_ValueError, "out must have shape (%lld, %lld)", (long long)d.n,
                     (long long)d.units);
        goto done;
    }
    Py_BEGIN_ALLOW_THREADS
    err = ccnn->dense_forward_f32((float *)out.buf, (const float *)x.buf, (const float *)w.buf,
                                  have_bias ? (const float *)b.buf : NULL, &d, relu, 1);
    Py_END_ALLOW_THREADS
    if (err != CCNN_OK) {
        PyErr_NoMemory();
        goto done;
    }
    result = Py_NewRef(Py_None);
done:
    release_buffers(bufs, nbufs);
    return result;
}

static PyObject *relu_(PyObject *self, PyObject *arg)
{
    Py_buffer a;
    if (get_array(arg, &a, 0, 1, 1, "a") < 0)
        return NULL;
    int64_t n = (int64_t)(a.len / a.itemsize);
    int is_double = a.itemsize == 8;
    Py_BEGIN_ALLOW_THREADS
    if (is_double)
        ccnn->relu_forward_f64((double *)a.buf, (const double *)a.buf, n, 1);
    else
        ccnn->relu_forward_f32((float *)a.buf, (const float *)a.buf, n, 1);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&a);
    Py_RETURN_NONE;
}

static PyObject *simd_path(PyObject *self, PyObject *unused)
{
    return PyUnicode_FromString(ccnn->simd_path());
}

static PyMethodDef methods[] = {
    {"conv2d_into", conv2d_into, METH_VARARGS,
     "conv2d_into(out, x, weight, padding=0): out = conv2d(x, weight) (float32, stride 1)."},
    {"conv2d_relu_maxpool_into", conv2d_relu_maxpool_into, METH_VARARGS,
     "conv2d_relu_maxpool_into(out, argmax, x, weight, padding=0): out, argmax = "
     "max_pool2d(relu(conv2d(x, weight)), 2) with uint8 window offsets (float32, stride 1)."},
    {"dense_into", dense_into, METH_VARARGS,
     "dense_into(out, x, weight, bias=None, relu=False): out = x @ weight + bias, "
     "then max(., 0) when relu (float32)."},
    {"relu_", relu_, METH_O, "relu_(a): a = max(a, 0) in place (float32 or float64)."},
    {"simd_path", simd_path, METH_NOARGS, "The SIMD path ccnn's kernels run on this CPU."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef moddef = {
    PyModuleDef_HEAD_INIT, "ccnn_downstream._cdemo",
    "ccnn's kernels called from C through ccnn's function table (kernels_capi.h).", -1, methods,
};

PyMODINIT_FUNC PyInit__cdemo(void)
{
    ccnn = ccnn_import_kernels();
    if (ccnn == NULL)
        return NULL;
    return PyModule_Create(&moddef);
}
