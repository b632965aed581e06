"""ccnn._plan -- thin binding over csrc/kernels/plan.c (csrc/bindings/_plan.pyx)."""
from typing import Any, Callable, Optional, Tuple

import numpy as np

from numpy.typing import NDArray

# plan.h's and plan_train.h's enums (the C compiler's values)
PLAN_CONV: int
PLAN_DENSE: int
PLAN_MAXPOOL: int
PLAN_AVGPOOL: int
PLAN_GAP: int
PLAN_GMP: int
PLAN_BN: int
PLAN_ACT: int
PLAN_SOFTMAX: int
PLAN_TRANSPOSE: int
PLAN_MERGE: int
PLAN_CONCAT: int
PLAN_ACT_NONE: int
PLAN_ACT_RELU: int
PF_OP: int
PF_ACT: int
PF_POOL: int
PF_SRC: int
PF_DST: int
PF_SCRATCH: int
PF_WEIGHT: int
PF_BIAS: int
PF_MEAN: int
PF_VAR: int
PF_GAMMA: int
PF_BETA: int
PF_FOLDW: int
PF_FOLDB: int
PF_N: int
PF_C: int
PF_H: int
PF_W: int
PF_K: int
PF_R: int
PF_S: int
PF_SH: int
PF_SW: int
PF_DH: int
PF_DW: int
PF_PT: int
PF_PB: int
PF_PL: int
PF_PR: int
PF_CEIL: int
PF_INCLUDE_PAD: int
PF_CACHE: int
PLAN_FIELDS: int
PR_ALPHA: int
PR_EPS: int
PLAN_REALS: int
TP_CONV: int
TP_CONV_POOL: int
TP_DENSE: int
TP_MAXPOOL: int
TP_BN: int
TP_RELU: int
TP_DROPOUT: int
TP_TRANSPOSE: int
TP_SOFTMAX_XENT: int
TP_POINTWISE: int
TP_AVGPOOL: int
TP_GAVGPOOL: int
TP_GMAXPOOL: int
TP_SIGMOID_BCE: int
TP_SPATIAL_DROPOUT: int
TP_BN_RELU: int
TP_ADD: int
TP_ACCUM: int
TF_OP: int
TF_FLAG: int
TF_SRC: int
TF_DST: int
TF_DSRC: int
TF_DDST: int
TF_WEIGHT: int
TF_BIAS: int
TF_DWEIGHT: int
TF_DBIAS: int
TF_AUX: int
TF_AUX2: int
TF_AUX3: int
TF_SEED: int
TF_N: int
TF_C: int
TF_H: int
TF_W: int
TF_K: int
TF_R: int
TF_S: int
TF_SH: int
TF_SW: int
TF_DH: int
TF_DW: int
TF_PT: int
TF_PB: int
TF_PL: int
TF_PR: int
TF_KIND: int
TRAIN_FIELDS: int
TRAIN_EREDUCE: int
TR_EPS: int
TR_RATE: int
TR_ALPHA: int
TR_SCALE: int
TRAIN_REALS: int
TO_KIND: int
TO_COUNT: int
TO_CHECK: int
TO_ROWS: int
TO_NROWS: int
TO_HAS0: int
TO_HAS1: int
TO_HAS2: int
TO_DECAY: int
TO_GSCALE: int
TO_HEAD: int
TO_REALS: int

def plan_forward(code: NDArray[np.int64], reals: NDArray[np.float64], ptrs: NDArray[np.int64],
                 x: NDArray[np.floating], out: NDArray[np.floating], nthreads: int) -> None: ...

class PlanRunner:
    def __init__(self, code: NDArray[np.int64], reals: NDArray[np.float64],
                 ptrs: NDArray[np.int64], in_size: int, out_size: int, f64: bool) -> None: ...
    def run(self, x: NDArray[np.floating], out: NDArray[np.floating], nthreads: int) -> None: ...

def plan_train(code: NDArray[np.int64], reals: NDArray[np.float64], ptrs: NDArray[np.int64],
               x: NDArray[np.floating], out: NDArray[np.floating], targets: NDArray[Any],
               in_bytes: int, out_bytes: int, targets_bytes: int, nthreads: int,
               opt: Optional[NDArray[np.int64]] = None,
               optreals: Optional[NDArray[np.float64]] = None) -> bool: ...
def plan_train_steps(code: NDArray[np.int64], reals: NDArray[np.float64],
                     ptrs: NDArray[np.int64], x: NDArray[np.floating],
                     out: NDArray[np.floating], targets: NDArray[Any], in_bytes: int,
                     out_bytes: int, targets_bytes: int, nthreads: int, opt: NDArray[np.int64],
                     optreals: NDArray[np.float64], seeds: NDArray[np.uint64],
                     seed_rows: NDArray[np.int64], decays: Optional[NDArray[np.float64]],
                     snaps: NDArray[np.int64], hits: Optional[NDArray[np.int64]],
                     classes: int, rows: Optional[NDArray[np.int64]], first: int,
                     batch: int, targets_rows: bool,
                     reduce: Optional[Callable[[int], None]] = None,
                     labels: Optional[NDArray[np.int64]] = None) -> Tuple[int, bool]: ...

def plan_optimize(opt: NDArray[np.int64], optreals: NDArray[np.float64], f64: bool,
                  nthreads: int) -> bool: ...
