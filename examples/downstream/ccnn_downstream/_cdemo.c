/* ccnn_downstream._cdemo -- ccnn's kernels called from plain C.
 *
 * The module fetches ccnn's function table once, at import
 * (ccnn_import_kernels() in ccnn/kernels_capi.h, the capsule
 * "ccnn.kernels._C_API"); nothing of ccnn is linked.  Arrays arrive through
 * the buffer protocol, so this file needs no numpy headers either.
 *
 *   conv2d_into(out, x, weight, padding=0)  out = conv2d(x, weight), stride 1,
 *                                           float32, C-contiguous, no bias
 *   relu_(a)                                a = max(a, 0) in place, float32 or float64
 *   simd_path()                             the SIMD path ccnn runs on this CPU
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>
#include "ccnn/kernels_capi.h"

static const ccnn_kernels_api *ccnn;

/* A C-contiguous buffer of `ndim` dimensions and format "f" (or "d" when
 * allow_double); 0 on success, -1 with an exception set. */
static int get_array(PyObject *obj, Py_buffer *view, int ndim, int writable, int allow_double,
                     const char *name)
{
    int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(obj, view, flags) < 0)
        return -1;
    const char *f = view->format ? view->format : "B";
    if (f[0] == '<' || f[0] == '=' || f[0] == '@')
        f++;
    int ok_format = strcmp(f, "f") == 0 || (allow_double && strcmp(f, "d") == 0);
    if (!ok_format || (ndim > 0 && view->ndim != ndim)) {
        PyErr_Format(PyExc_TypeError, "%s must be a C-contiguous %d-D float32%s array", name,
                     ndim, allow_double ? " or float64" : "");
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

static PyObject *conv2d_into(PyObject *self, PyObject *args)
{
    PyObject *out_obj, *x_obj, *w_obj;
    Py_ssize_t pad = 0;
    Py_buffer out, x, w;
    if (!PyArg_ParseTuple(args, "OOO|n:conv2d_into", &out_obj, &x_obj, &w_obj, &pad))
        return NULL;
    if (get_array(out_obj, &out, 4, 1, 0, "out") < 0)
        return NULL;
    if (get_array(x_obj, &x, 4, 0, 0, "x") < 0) {
        PyBuffer_Release(&out);
        return NULL;
    }
    if (get_array(w_obj, &w, 4, 0, 0, "weight") < 0) {
        PyBuffer_Release(&out);
        PyBuffer_Release(&x);
        return NULL;
    }
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
    PyBuffer_Release(&out);
    PyBuffer_Release(&x);
    PyBuffer_Release(&w);
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
