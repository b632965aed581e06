#!/usr/bin/env bash
# CI step: the kernel tests under AddressSanitizer + UndefinedBehaviorSanitizer.
#
#   1. copy the source tree (the files git knows about, tracked or new, minus the
#      ignored ones: no build products) into a scratch directory, so that the
#      main tree's build is left alone
#   2. build the extensions there in place with
#        CCNN_EXTRA_CFLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer
#                           -fno-sanitize-recover=undefined -g"
#      (setup.py compiles and links every extension with them)
#   3. run the kernel tests from that directory (so its ccnn is the one imported)
#      with the ASan runtime preloaded into the uninstrumented python:
#        LD_PRELOAD=$(gcc -print-file-name=libasan.so)
#        ASAN_OPTIONS=detect_leaks=0 (python "leaks" at exit), halt_on_error=1
#      reports go to log files in the scratch directory as well as failing the
#      run; any report fails this script
#
# Usage: .ci/sanitize.sh [pytest args...]
#   KEEP=1                      keep the scratch directory
#   CCNN_HYPOTHESIS_EXAMPLES=N  examples per property test (default here: 50)
#   SANITIZE_TESTS="tests/..."  the test files to run (default: the kernel tests)
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)
PYTHON=${PYTHON:-python}
CC_FOR_RT=${CC:-gcc}
START=$(date +%s)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/ccnn-sanitize.XXXXXX")
if [[ -z "${KEEP:-}" ]]; then trap 'rm -rf "$WORK"' EXIT; fi
step() { echo "== sanitize [$(( $(date +%s) - START ))s]: $*"; }

step "copy the source tree to $WORK/src"
mkdir "$WORK/src"
if git -C "$REPO" rev-parse --is-inside-work-tree > /dev/null 2>&1; then
    # tracked and new files, not ignored ones (build/, *.so, generated csrc/bindings/_*.c ...);
    # skip tracked files deleted in the working tree
    git -C "$REPO" ls-files -z --cached --others --exclude-standard \
        | while IFS= read -r -d '' f; do [[ -e "$f" ]] && printf '%s\0' "$f"; done \
        | tar --null -T - -cf - | tar -xf - -C "$WORK/src"
else
    tar --exclude=./build --exclude='*.so' --exclude=./.git -cf - . | tar -xf - -C "$WORK/src"
    rm -f "$WORK"/src/csrc/bindings/_*.c
fi

step "build with ASan + UBSan"
export CCNN_EXTRA_CFLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined -g"
# --force: nothing in the copy may count as up to date
(cd "$WORK/src" && "$PYTHON" setup.py build_ext --inplace --force -j 2) > "$WORK/build.log" 2>&1 \
    || { tail -50 "$WORK/build.log"; exit 1; }
# Every extension must be instrumented: its code calls into the ASan and UBSan
# runtimes (undefined __asan_* / __ubsan_* symbols), which LD_PRELOAD supplies
# below whether or not the linker recorded libasan as a dependency.
shopt -s nullglob
exts=("$WORK"/src/ccnn/*.so)
shopt -u nullglob
[[ ${#exts[@]} -gt 0 ]] || { echo "the build left no extension modules"; tail -50 "$WORK/build.log"; exit 1; }
for so in "${exts[@]}"; do
    undef=$(nm -D --undefined-only "$so")
    if ! grep -q '__asan_' <<< "$undef" || ! grep -q '__ubsan_' <<< "$undef"; then
        echo "$so is not instrumented with ASan + UBSan"
        ldd "$so" || true
        grep -E ' -shared |^(gcc|cc|x86_64)' "$WORK/build.log" | tail -5 || true
        exit 1
    fi
done
echo "   ${#exts[@]} extension modules instrumented with ASan + UBSan"

ASAN_RT=$("$CC_FOR_RT" -print-file-name=libasan.so)
UBSAN_RT=$("$CC_FOR_RT" -print-file-name=libubsan.so)
[[ -f "$ASAN_RT" ]] || { echo "no libasan.so ($ASAN_RT)"; exit 1; }
mkdir "$WORK/reports"
export LD_PRELOAD="$ASAN_RT $UBSAN_RT"
# allocator_may_return_null: a huge request fails like glibc's malloc (numpy then
# raises MemoryError) instead of being reported as an ASan error
export ASAN_OPTIONS="detect_leaks=0:halt_on_error=1:abort_on_error=0:allocator_may_return_null=1:detect_stack_use_after_return=1:check_initialization_order=1:strict_string_checks=1:log_path=$WORK/reports/asan"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:log_path=$WORK/reports/ubsan"
export PYTHONMALLOC=malloc          # Python's own objects through ASan's allocator too
export CCNN_HYPOTHESIS_EXAMPLES=${CCNN_HYPOTHESIS_EXAMPLES:-50}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}

TESTS=${SANITIZE_TESTS:-"tests/test_conv2d.py tests/test_pool.py tests/test_activation.py
    tests/test_correlate.py tests/test_bad_input.py tests/test_loss.py tests/test_optimizers.py
    tests/test_threads.py tests/test_layers.py tests/test_robustness.py tests/test_properties.py
    tests/test_fused.py tests/test_pool_fast.py tests/test_model.py tests/test_layout.py
    tests/test_winograd.py tests/test_normalization.py tests/test_preprocessing.py
    tests/test_pooling_global.py tests/test_pointwise.py tests/test_reshaping.py
    tests/test_rectifiers.py tests/test_layernorm.py tests/test_losses_keras.py
    tests/test_conv_family.py tests/test_preprocessing_more.py tests/test_regularization.py
    tests/test_optimizers_keras.py tests/test_act_epilogue.py tests/test_inference_plan.py
    tests/test_optimizer_subnormals.py tests/test_gemm.py tests/test_train_plan.py
    tests/test_pool_paths.py tests/test_plans_every_layer.py tests/test_inference_plan_graph.py
    tests/test_batchnorm_relu.py tests/test_train_plan_optim.py"}

cd "$WORK/src"
# tests that start a Python subprocess (from tests/) import this build too
export PYTHONPATH="$WORK/src${PYTHONPATH:+:$PYTHONPATH}"
step "check that the sanitized ccnn is the one imported"
"$PYTHON" - <<'EOF'
import os
import ccnn, ccnn._conv2d
here = os.getcwd()
assert ccnn.__file__.startswith(here), f"ccnn imported from {ccnn.__file__}, not {here}"
assert ccnn._conv2d.__file__.startswith(here), ccnn._conv2d.__file__
print(f"   ccnn from {os.path.dirname(ccnn.__file__)}")
EOF

step "pytest ($CCNN_HYPOTHESIS_EXAMPLES hypothesis examples per property)"
status=0
# shellcheck disable=SC2086
"$PYTHON" -m pytest -q -p no:cacheprovider -x $TESTS "$@" || status=$?

reports=$(find "$WORK/reports" -type f | sort)
if [[ -n "$reports" ]]; then
    for f in $reports; do echo "---- $f"; cat "$f"; done
    echo "== sanitize: $(echo "$reports" | wc -l) sanitizer report(s)"
    exit 1
fi
if [[ $status -ne 0 ]]; then
    echo "== sanitize: pytest failed (status $status)"
    exit "$status"
fi
step "done: no sanitizer reports"
