"""ccnn.kernels -- ccnn's C kernels for other packages' Cython and C code.

Built from csrc/bindings/_kernels.pyx as the extension module ``ccnn.kernels``,
the one module that links the C kernels (csrc/kernels/*.c).  Its declarations
are ccnn/kernels.pxd, installed with the C headers in the directory
ccnn.get_include() returns.

From Cython:  ``from ccnn.kernels cimport conv2d_dims_init, ...`` (or the
float/double dispatchers of ``ccnn.kernels_fused``) -- each function reaches
the caller through this module's ``__pyx_capi__`` capsules, so the caller
links nothing.  ccnn's own bindings (ccnn._conv2d, ccnn._pool, ...) do the same.

From C:  ``#include "ccnn/kernels_capi.h"`` and ``ccnn_import_kernels()``,
which fetches the function table ``_C_API`` (a capsule) from this module.

The forwarding functions and the table are generated from the signature list
csrc/signatures.txt (csrc/generate.py writes _kernels_table.pxi).  Python code
uses ccnn.functional; this module has no Python-level functions.
"""
from cpython.pycapsule cimport PyCapsule_New
from libc.stdint cimport int64_t, uint8_t, uint64_t

include "_kernels_table.pxi"

#: ABI version of the C function table (kernels_capi.h: CCNN_KERNELS_ABI_VERSION).
C_API_VERSION = CCNN_KERNELS_ABI_VERSION
_C_API = PyCapsule_New(ccnn_kernels_api_table_ptr(), b"ccnn.kernels._C_API", NULL)
