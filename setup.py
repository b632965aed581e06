"""Build ccnn's C kernels (csrc/kernels/*.c) and their Cython bindings (csrc/bindings/_*.pyx).

csrc/bindings/_kernels.pyx becomes ccnn.kernels, the one extension module
that links the C kernels: every csrc/kernels/*.c is compiled into it, once.
It exports each kernel as a C-API capsule (`from ccnn.kernels cimport ...`,
ccnn/kernels.pxd) and as an entry of a C function table (kernels_capi.h).
Every other csrc/bindings/_NAME.pyx becomes ccnn._NAME, a thin binding that
reaches the kernels through those capsules, the way other packages do -- it
links no kernel.  OpenMP and GCC's target_clones (runtime SIMD dispatch) are
probed by compiling a tiny program, as scikit-learn does; without them the
build is serial / baseline-only, with a warning.

Before anything is built, csrc/generate.py writes the files that repeat the
kernel signatures from the one list csrc/signatures.txt (kernels.pxd,
kernels_fused.pxd and kernels_capi.h under ccnn/include/ccnn/, and
csrc/bindings/_kernels_table.pxi), and the public headers are copied from
csrc/kernels/ into ccnn/include/ccnn/ (the directory ccnn.get_include()
returns), so every install -- wheel, sdist build, editable, build_ext
--inplace -- ships the same files.

Release builds carry no debug information: -g0 comes after the compiler
flags Python (and pip) pass, which include -g, and the linker keeps no local
symbols (-Wl,-x; the kernels' exported names stay).  The kernels are
compiled with -O3, the bindings (glue around calls into ccnn.kernels) with -O2.

Environment switches:
  CCNN_DEBUG=1          keep debug information and local symbols (no -g0, no -Wl,-x)
  CCNN_CYTHON_DEBUG=1   bounds checks and wraparound back on in the bindings
  CCNN_DISABLE_OPENMP=1 build without OpenMP
  CCNN_EXTRA_CFLAGS     extra compiler flags (e.g. sanitizers); also linked
  CCNN_BUILD_JOBS       parallel compile jobs when -j is not given (default: CPUs)
"""
import glob
import os
import re
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
from setuptools.command.build_ext import build_ext

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
release = [] if os.environ.get("CCNN_DEBUG") else ["-g0"]   # after Python's -g
cflags = ["-std=c11", "-fno-math-errno", "-ffp-contract=fast", "-fopenmp-simd"] + omp + release + extra
ldflags = omp + release + (["-Wl,-x"] if release else []) + extra   # -x: no local symbols

KERNELS = os.path.join("csrc", "kernels")     # the C kernels and their headers
BINDINGS = os.path.join("csrc", "bindings")   # the Cython bindings
INCLUDE_DIR = os.path.join(HERE, "ccnn", "include")

sys.path.insert(0, os.path.join(HERE, "csrc"))
import generate  # noqa: E402  (csrc/generate.py)

GENERATED = [os.path.relpath(p, HERE) for p in generate.write_all(HERE)]


def _public_headers(roots=("ccnn.h",)):
    """The roots and every csrc/kernels/ header they include, transitively
    (gemm.h and kernels_common.h stay private)."""
    found, todo = [], list(roots)
    while todo:
        name = todo.pop()
        if name in found:
            continue
        found.append(name)
        with open(os.path.join(HERE, KERNELS, name)) as f:
            for line in f:
                m = re.match(r'\s*#\s*include\s+"([^"]+)"', line)
                if m and os.path.exists(os.path.join(HERE, KERNELS, m.group(1))):
                    todo.append(m.group(1))
    return sorted(found)


PUBLIC_HEADERS = _public_headers()


def _sync_public_files():
    """Copy the public headers from csrc/kernels/ to ccnn/include/ccnn/ (only
    those that changed, so that timestamps -- and rebuilds -- stay put), beside
    the generated kernels.pxd, kernels_fused.pxd and kernels_capi.h, and
    remove anything else there."""
    dest = os.path.join(INCLUDE_DIR, "ccnn")
    os.makedirs(dest, exist_ok=True)
    for name in PUBLIC_HEADERS:
        src, dst = os.path.join(HERE, KERNELS, name), os.path.join(dest, name)
        with open(src, "rb") as f:
            data = f.read()
        if os.path.exists(dst):
            with open(dst, "rb") as f:
                if f.read() == data:
                    continue
        shutil.copyfile(src, dst)
    keep = set(PUBLIC_HEADERS) | {os.path.basename(p) for p in GENERATED}
    for name in os.listdir(dest):  # a header that is no longer public
        if name not in keep:
            os.remove(os.path.join(dest, name))


_sync_public_files()

# ccnn.kernels links every kernel: csrc/kernels/*.c
KERNEL_SOURCES = sorted(glob.glob(os.path.join(KERNELS, "*.c")))
HEADERS = sorted(glob.glob(os.path.join(KERNELS, "*.h")))
extensions = []
for pyx in sorted(glob.glob(os.path.join(BINDINGS, "_*.pyx"))):
    name = os.path.basename(pyx)[1:-4]
    module = "ccnn.kernels" if name == "kernels" else "ccnn._" + name
    kernels = name == "kernels"
    extensions.append(Extension(
        module, [pyx] + (KERNEL_SOURCES if kernels else []),
        include_dirs=[os.path.join(HERE, KERNELS), INCLUDE_DIR, np.get_include()],
        depends=HEADERS,  # a changed header rebuilds the extensions
        define_macros=macros, extra_link_args=ldflags,
        # libm: on glibc its linker script adds libmvec, the SIMD exp / tanh / erf
        # that pointwise.c's loops call
        libraries=["m"] if kernels and sys.platform.startswith("linux") else [],
        # the bindings are glue (argument parsing, memoryviews) around calls
        # into ccnn.kernels: -O2 is plenty there, and smaller
        extra_compile_args=["-O3" if kernels else "-O2"] + cflags,
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

class BuildExt(build_ext):
    """build_ext that compiles the extensions in parallel by default (one job
    per CPU; -j / --parallel or CCNN_BUILD_JOBS choose otherwise), so that
    pip install and python -m build use every core too."""

    def finalize_options(self):
        super().finalize_options()
        if not self.parallel:
            jobs = os.environ.get("CCNN_BUILD_JOBS", "")
            self.parallel = int(jobs) if jobs.isdigit() and int(jobs) > 0 else (os.cpu_count() or 1)


setup(
    cmdclass={"build_ext": BuildExt},
    ext_modules=cythonize(extensions, compiler_directives=directives,
                          include_path=[BINDINGS, os.path.join("ccnn", "include")]),
)
