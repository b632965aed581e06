"""PReLU."""
from __future__ import annotations

from typing import Any, Optional, Tuple

import numpy as np

from ... import _checks as chk
from ... import functional as F
from ..initializers import initialize, initializer_arg
from ..layer import Layer, Shape


class PReLU(Layer):
    """x where x > 0, alpha * x elsewhere, with alpha learned: one slope per
    value of a sample (shape input_shape[1:]), shared along `shared_axes`
    (1-based, e.g. shared_axes=[1, 2] for one slope per channel of an
    (N, H, W, C) image), as Keras.  C kernels: rectifier.c's prelu."""

    def __init__(self, alpha_initializer: str = "zeros", shared_axes: Any = None, **kwargs):
        super().__init__(**kwargs)
        self.alpha_initializer = initializer_arg(alpha_initializer, "alpha_initializer")
        if shared_axes is None:
            axes: Tuple[int, ...] = ()
        elif isinstance(shared_axes, (list, tuple)):
            axes = tuple(chk.integer(a, f"shared_axes[{i}]", 1)
                         for i, a in enumerate(shared_axes))
        else:
            axes = (chk.integer(shared_axes, "shared_axes", 1),)
        self.shared_axes: Optional[Tuple[int, ...]] = None if shared_axes is None else axes

    def build(self, input_shape: Shape) -> None:
        input_shape = tuple(input_shape)
        shape = list(input_shape[1:])
        for a in self.shared_axes or ():
            if a > len(shape):
                raise ValueError(f"PReLU: shared_axes {self.shared_axes} does not fit inputs "
                                 f"of shape {input_shape}")
            shape[a - 1] = 1
        if any(d is None for d in shape):
            raise ValueError(f"PReLU: the input's non-shared dimensions must be known, got "
                             f"{input_shape} with shared_axes={self.shared_axes}")
        self.params = {"alpha": initialize(self.alpha_initializer, tuple(shape), 1, 1,
                                           self.dtype)}
        super().build(input_shape)

    def _alpha_row(self, sample: Tuple[int, ...]) -> np.ndarray:
        """alpha broadcast to one value per position of a sample, flat."""
        return np.ascontiguousarray(np.broadcast_to(self.params["alpha"], sample).reshape(-1))

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        self.x = np.ascontiguousarray(self._check_input(x))
        n = self.x.shape[0]
        y = F.prelu_unchecked(self.x.reshape(n, -1), self._alpha_row(self.x.shape[1:]))
        return y.reshape(self.x.shape)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        n, sample = self.x.shape[0], self.x.shape[1:]
        dx, dalpha = F.prelu_backward_unchecked(
            np.ascontiguousarray(dout, dtype=self.dtype).reshape(n, -1),
            self.x.reshape(n, -1), self._alpha_row(sample), self.need_input_grad)
        shared = tuple(a - 1 for a in self.shared_axes or ())
        self.grads = {"alpha": dalpha.reshape(sample).sum(axis=shared, keepdims=True)
                      if shared else dalpha.reshape(sample)}
        return dx.reshape(self.x.shape) if dx is not None else None  # type: ignore[return-value]

    def get_config(self) -> dict:
        return {**super().get_config(), "alpha_initializer": self.alpha_initializer,
                "shared_axes": None if self.shared_axes is None else list(self.shared_axes)}
