#!/usr/bin/env bash
# CI step: sdist -> wheel -> fresh virtual environment -> the test suite.
#
#   1. python -m build --sdist               (from this checkout)
#   2. unpack the sdist, build a wheel from it (isolated build: the sdist alone
#      must be enough -- csrc/: the kernels, the bindings, the signature list)
#   3. check the wheel carries the stubs, py.typed, the headers and the .pxd
#   4. a fresh venv: install the wheel with its test extra
#   5. copy tests/, examples/ and the READMEs (whose examples the tests run) to a
#      scratch directory, where no source ccnn/
#      is importable, and run pytest there with the venv's Python: the tests
#      (including the downstream example's build) run against the wheel
#
# Usage: .ci/wheel_roundtrip.sh [pytest args...]   (KEEP=1 keeps the scratch dir)
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)
PYTHON=${PYTHON:-python}
START=$(date +%s)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/ccnn-roundtrip.XXXXXX")
if [[ -z "${KEEP:-}" ]]; then trap 'rm -rf "$WORK"' EXIT; fi
step() { echo "== wheel round trip [$(( $(date +%s) - START ))s]: $*"; }

step "sdist"
"$PYTHON" -m build --sdist --outdir "$WORK/dist" "$REPO" > "$WORK/sdist.log" 2>&1 \
    || { cat "$WORK/sdist.log"; exit 1; }
SDIST=$(ls "$WORK"/dist/ccnn-*.tar.gz)
echo "   $(basename "$SDIST")"

step "wheel from the sdist"
mkdir "$WORK/unpacked"
tar -xzf "$SDIST" -C "$WORK/unpacked"
SRC=$(ls -d "$WORK"/unpacked/ccnn-*)
"$PYTHON" -m build --wheel --outdir "$WORK/dist" "$SRC" > "$WORK/wheel.log" 2>&1 \
    || { cat "$WORK/wheel.log"; exit 1; }
WHEEL=$(ls "$WORK"/dist/ccnn-*.whl)
echo "   $(basename "$WHEEL")"

step "wheel contents"
"$PYTHON" - "$WHEEL" "$SRC" <<'EOF'
import glob, os, sys, zipfile
names = set(zipfile.ZipFile(sys.argv[1]).namelist())
# one extension module (and stub) per binding in the sdist's csrc/bindings/_*.pyx
bindings = sorted(os.path.basename(p)[1:-4]
                  for p in glob.glob(os.path.join(sys.argv[2], "csrc", "bindings", "_*.pyx")))
need = ["ccnn/py.typed", "ccnn/include/ccnn/kernels.pxd", "ccnn/include/ccnn/kernels_fused.pxd",
        "ccnn/include/ccnn/ccnn.h",
        "ccnn/include/ccnn/kernels_capi.h", "ccnn/include/ccnn/conv2d.h", "ccnn/include/ccnn/dense.h",
        "ccnn/include/ccnn/layout.h", "ccnn/kernels.pyi", "ccnn/_layout.pyi",
        "ccnn/layers/__init__.py", "ccnn/layers/fused.py", "ccnn/models/__init__.py",
        "ccnn/models/saving.py"]
need += [f"ccnn/_{m}.pyi" for m in bindings if m != "kernels"]
# every Python module of the source tree (the layer families are subpackages)
need += sorted(os.path.relpath(p, sys.argv[2]).replace(os.sep, "/")
               for p in glob.glob(os.path.join(sys.argv[2], "ccnn", "**", "*.py"), recursive=True)
               if "_sample" not in p)
missing = [n for n in need if n not in names]
exts = sorted(n for n in names if n.endswith(".so") or n.endswith(".pyd"))
if missing or len(bindings) < 9 or len(exts) != len(bindings):
    sys.exit(f"wheel is incomplete: missing {missing}, extension modules {exts}")
print(f"   {len(names)} files, {len(exts)} extension modules")
EOF

step "fresh venv + wheel[test]"
"$PYTHON" -m venv "$WORK/venv"
VPY="$WORK/venv/bin/python"
export VIRTUAL_ENV="$WORK/venv" PATH="$WORK/venv/bin:$PATH"  # its console script `ccnn` too
"$VPY" -m pip install --quiet "${WHEEL}[test]" > "$WORK/pip.log" 2>&1 \
    || { cat "$WORK/pip.log"; exit 1; }
if [[ -n "${CCNN_CI_REFERENCES:-}" ]]; then  # .ci/run's reference frameworks (torch, keras)
    # shellcheck disable=SC2086
    "$VPY" -m pip install --quiet $CCNN_CI_REFERENCES >> "$WORK/pip.log" 2>&1 \
        || { cat "$WORK/pip.log"; exit 1; }
fi

step "pytest against the installed wheel"
mkdir "$WORK/run"
cp -r "$REPO/tests" "$REPO/examples" "$REPO/README.md" "$REPO/README.ko.md" "$WORK/run/"
find "$WORK/run" \( -name __pycache__ -o -name build -o -name '*.so' \) -prune \
    -exec rm -rf {} +
cd "$WORK/run"
"$VPY" - <<'EOF'
import os, sys
import ccnn
where = os.path.dirname(ccnn.__file__)
assert where.startswith(sys.prefix), f"ccnn imported from {where}, not from the venv"
print(f"   ccnn {ccnn.__version__} from {where}")
EOF
[[ "$(command -v ccnn)" == "$WORK/venv/bin/ccnn" ]] || { echo "ccnn script: $(command -v ccnn)"; exit 1; }
"$VPY" -m pytest -q -rs -p no:cacheprovider tests "$@"

step "done"
