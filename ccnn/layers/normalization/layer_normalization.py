"""LayerNormalization."""
from __future__ import annotations

import numbers
from typing import Any, List, Optional, Tuple, Union

import numpy as np

from ... import _checks as chk
from ... import functional as F
from ..initializers import initialize, initializer_arg
from ..layer import Layer, Shape


class LayerNormalization(Layer):
    """Keras's LayerNormalization: each sample normalized over `axis` (an int or
    a list of axes; the last by default), the same in training and inference:

        y = (x - mean) / sqrt(var + epsilon) * gamma + beta

    mean and the (biased) variance are taken over the `axis` dimensions of each
    sample; gamma (scale=True) and beta (center=True) have their shape.  The
    axes are moved last and flattened, and one C pass per direction handles the
    rows (ccnn.functional's layer_norm kernels)."""

    _CACHE_ATTRS = Layer._CACHE_ATTRS + ("x2", "mean", "rstd", "order")

    def __init__(self, axis: Union[int, List[int], Tuple[int, ...]] = -1, epsilon: float = 1e-3,
                 center: bool = True, scale: bool = True, beta_initializer: str = "zeros",
                 gamma_initializer: str = "ones", beta_regularizer: Any = None,
                 gamma_regularizer: Any = None, beta_constraint: Any = None,
                 gamma_constraint: Any = None, **kwargs):
        if kwargs.pop("rms_scaling", False):
            raise ValueError("rms_scaling=True is not supported (Keras deprecates it: it scales "
                             "by the variance, not the root mean square)")
        super().__init__(**kwargs)
        if isinstance(axis, (list, tuple)):
            # sorted as given, as Keras does (so [-1, 2] stays [-1, 2]); gamma and beta
            # have the sizes of the axes in that order, and are laid over the
            # input's normalized axes in its own order, as Keras's reshape does
            self.axis: Union[int, List[int]] = sorted(self._int_axis(a) for a in axis)
            if not self.axis:
                raise ValueError("axis must name at least one axis")
        else:
            self.axis = self._int_axis(axis)
        self.epsilon = chk.finite_float(epsilon, "epsilon")
        if self.epsilon <= 0:
            raise ValueError(f"epsilon must be > 0, got {epsilon!r}")
        self.center = chk.boolean(center, "center")
        self.scale = chk.boolean(scale, "scale")
        self.beta_initializer = initializer_arg(beta_initializer, "beta_initializer")
        self.gamma_initializer = initializer_arg(gamma_initializer, "gamma_initializer")
        for value, what in ((beta_regularizer, "beta_regularizer"),
                            (gamma_regularizer, "gamma_regularizer"),
                            (beta_constraint, "beta_constraint"),
                            (gamma_constraint, "gamma_constraint")):
            if value is not None:
                raise ValueError(f"{what} is not supported by ccnn's LayerNormalization yet; "
                                 f"pass None")

    @staticmethod
    def _int_axis(a: Any) -> int:
        if isinstance(a, (bool, np.bool_)) or not isinstance(a, numbers.Integral):
            raise TypeError(f"axis must be an int or a list of ints, got {a!r}")
        return int(a)

    def _axes(self, ndim: int) -> Tuple[int, ...]:
        """The normalized axes, non-negative and sorted (the batch axis excluded)."""
        axes = self.axis if isinstance(self.axis, list) else [self.axis]
        out = []
        for a in axes:
            if not -ndim <= a < ndim or a % ndim == 0:
                raise ValueError(f"LayerNormalization: axis {a} is out of range for inputs of "
                                 f"rank {ndim} (the batch axis 0 cannot be normalized)")
            out.append(a % ndim)
        if len(set(out)) != len(out):
            raise ValueError(f"LayerNormalization: axis {self.axis} names an axis twice")
        return tuple(sorted(out))

    def build(self, input_shape: Shape) -> None:
        input_shape = tuple(input_shape)
        self._axes(len(input_shape))
        if not isinstance(self.axis, list):
            self.axis = [self.axis]                  # as Keras's build does
        shape = tuple(input_shape[a] for a in self.axis)
        if any(d is None for d in shape):
            raise ValueError(f"LayerNormalization: the normalized dimensions must be known, got "
                             f"{input_shape} with axis={self.axis}")
        self.params = {}
        if self.scale:
            self.params["gamma"] = initialize(self.gamma_initializer, shape, 1, 1, self.dtype)
        if self.center:
            self.params["beta"] = initialize(self.beta_initializer, shape, 1, 1, self.dtype)
        super().build(input_shape)

    def _param(self, key: str) -> Optional[np.ndarray]:
        p = self.params.get(key)
        return None if p is None else p.reshape(-1)

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        x = self._check_input(x)
        axes = self._axes(x.ndim)
        rest = tuple(a for a in range(x.ndim) if a not in axes)
        self.order = rest + axes                 # the normalized axes last
        moved = x.transpose(self.order)
        cols = int(np.prod([x.shape[a] for a in axes]))
        self.x2 = np.ascontiguousarray(moved).reshape(-1, cols)
        y2, self.mean, self.rstd = F.layer_norm_unchecked(self.x2, self._param("gamma"),
                                                          self._param("beta"), self.epsilon)
        return y2.reshape(moved.shape).transpose(np.argsort(self.order))

    def backward(self, dout: np.ndarray) -> np.ndarray:
        moved = np.asarray(dout, dtype=self.dtype).transpose(self.order)
        dx, dg, db = F.layer_norm_backward_unchecked(
            np.ascontiguousarray(moved).reshape(self.x2.shape), self.x2, self.mean, self.rstd,
            self._param("gamma"), self.need_input_grad, self.scale, self.center)
        self.grads = {}
        if dg is not None:
            self.grads["gamma"] = dg.reshape(self.params["gamma"].shape)
        if db is not None:
            self.grads["beta"] = db.reshape(self.params["beta"].shape)
        if dx is None:
            return None  # type: ignore[return-value]
        return dx.reshape(moved.shape).transpose(np.argsort(self.order))

    def get_config(self) -> dict:
        return {**super().get_config(), "axis": self.axis, "epsilon": self.epsilon,
                "center": self.center, "scale": self.scale,
                "beta_initializer": self.beta_initializer,
                "gamma_initializer": self.gamma_initializer}
