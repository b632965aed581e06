"""ccnn._plan -- thin binding over csrc/kernels/plan.c (csrc/bindings/_plan.pyx)."""
from typing import Any, Callable, Optional, Tuple

import numpy as np

from numpy.typing import NDArray

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
                     reduce: Optional[Callable[[int], None]] = None) -> Tuple[int, bool]: ...

def plan_optimize(opt: NDArray[np.int64], optreals: NDArray[np.float64], f64: bool,
                  nthreads: int) -> bool: ...
