"""Build ccnn's C kernels (csrc/*.c) and their Cython bindings (csrc/_*.pyx).

Each csrc/_NAME.pyx becomes the extension module ccnn._NAME, linked with
csrc/NAME.c when that file exists.  OpenMP and GCC's target_clones (runtime
SIMD dispatch) are probed by compiling a tiny program, as scikit-learn does;
without them the build is serial / baseline-only, with a warning.

Environment switches:
  CCNN_CYTHON_DEBUG=1   bounds checks and wraparound back on in the bindings
  CCNN_DISABLE_OPENMP=1 build without OpenMP
  CCNN_EXTRA_CFLAGS     extra compiler flags (e.g. sanitizers); also linked
"""
import glob
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import textwrap
import warnings

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup

HERE = os.path.dirname(os.path.abspath(__file__))


def _compiles(code, flags):
    """True when the C compiler builds and links `code` with `flags`."""
    cc = os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc"
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "probe.c")
        with open(src, "w") as f:
            f.write(textwrap.dedent(code))
        cmd = cc.split() + flags + [src, "-o", os.path.join(tmp, "probe")]
        try:
            return subprocess.run(cmd, capture_output=True, cwd=tmp).returncode == 0
        except OSError:
            return False


def _openmp_flags():
    if os.environ.get("CCNN_DISABLE_OPENMP"):
        return []
    probe = """
        #include <omp.h>
        int main(void) {
            int n = 0;
            #pragma omp parallel reduction(+:n)
            n += 1;
            return n > 0 ? 0 : 1;
        }
    """
    for flags in (["-fopenmp"], ["-Xpreprocessor", "-fopenmp", "-lomp"]):
        if _compiles(probe, flags):
            return flags
    warnings.warn("ccnn: the C compiler does not support OpenMP; building single-threaded kernels")
    return []


def _target_clones_ok():
    probe = """
        __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
        float f(float x) { return x * 2.0f; }
        int main(void) { return f(1.0f) == 2.0f ? 0 : 1; }
    """
    return _compiles(probe, ["-O2"])


omp = _openmp_flags()
macros = [("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")]
if _target_clones_ok():
    macros.append(("CCNN_HAVE_TARGET_CLONES", "1"))
else:
    warnings.warn("ccnn: no target_clones support; SIMD kernels use the baseline instruction set only")
extra = os.environ.get("CCNN_EXTRA_CFLAGS", "").split()
cflags = ["-O3", "-std=c11", "-fno-math-errno", "-fopenmp-simd"] + omp + extra
ldflags = omp + extra

# C files a binding needs besides csrc/NAME.c
EXTRA_SOURCES = {"conv2d": ["gemm.c"]}

extensions = []
for pyx in sorted(glob.glob(os.path.join("csrc", "_*.pyx"))):
    name = os.path.basename(pyx)[1:-4]
    sources = [pyx]
    c_file = os.path.join("csrc", name + ".c")
    if os.path.exists(c_file):
        sources.append(c_file)
    sources += [os.path.join("csrc", f) for f in EXTRA_SOURCES.get(name, [])]
    extensions.append(Extension(
        "ccnn._" + name, sources,
        include_dirs=[os.path.join(HERE, "csrc"), np.get_include()],
        define_macros=macros, extra_compile_args=cflags, extra_link_args=ldflags,
    ))

debug = bool(os.environ.get("CCNN_CYTHON_DEBUG"))
directives = {
    "language_level": 3,
    "boundscheck": debug,
    "wraparound": debug,
    "cdivision": True,
    "initializedcheck": debug,
    "embedsignature": True,
}

setup(
    ext_modules=cythonize(extensions, compiler_directives=directives,
                          include_path=[os.path.join(HERE, "csrc")]),
)
