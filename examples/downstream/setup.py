"""Build ccnn_downstream's two extension modules against the installed ccnn.

Everything ccnn-specific is ccnn.get_include(): the C headers for the
compiler (include_dirs) and ccnn/kernels.pxd for Cython (include_path).
Neither module is linked with ccnn: the kernels are found at import time
through the capsules of ccnn.kernels.
"""
import ccnn
from Cython.Build import cythonize
from setuptools import Extension, setup

inc = ccnn.get_include()

cython_ext = Extension("ccnn_downstream._fused", ["ccnn_downstream/_fused.pyx"],
                       include_dirs=[inc])
c_ext = Extension("ccnn_downstream._cdemo", ["ccnn_downstream/_cdemo.c"], include_dirs=[inc])

setup(
    ext_modules=cythonize([cython_ext], include_path=[inc],
                          compiler_directives={"language_level": 3, "boundscheck": False,
                                               "wraparound": False})
    + [c_ext],
)
