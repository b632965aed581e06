"""ccnn._augment -- thin binding over csrc/kernels/augment.c (csrc/bindings/_augment.pyx)."""
import numpy as np

from numpy.typing import NDArray

_Float = np.floating

def affine_transform(x: NDArray[_Float], transforms: NDArray[np.float64], interpolation: int,
                     fill_mode: int, fill_value: float, nthreads: int) -> NDArray[_Float]: ...
def image_flip(x: NDArray[_Float], flags: NDArray[np.uint8], nthreads: int) -> NDArray[_Float]: ...
def adjust_contrast(x: NDArray[_Float], factors: NDArray[np.float64], lo: float, hi: float,
                    nthreads: int) -> NDArray[_Float]: ...
def broadcast_affine(x: NDArray[_Float], scale: NDArray[_Float], shift: NDArray[_Float],
                     so: int, sm: int, si: int, nthreads: int) -> NDArray[_Float]: ...
