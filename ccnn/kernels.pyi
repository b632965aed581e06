"""ccnn.kernels -- ccnn's C kernels for other packages' Cython and C code
(csrc/bindings/_kernels.pyx).  It has no Python-level functions: Cython code cimports
the kernels (ccnn/kernels.pxd under ccnn.get_include()), C code fetches the
function table _C_API (ccnn/kernels_capi.h)."""
from typing import Dict

#: The C-API capsules that `from ccnn.kernels cimport ...` resolves to.
__pyx_capi__: Dict[str, object]
#: The function table for C callers (capsule "ccnn.kernels._C_API").
_C_API: object
#: Its ABI version (CCNN_KERNELS_ABI_VERSION in kernels_capi.h).
C_API_VERSION: int
