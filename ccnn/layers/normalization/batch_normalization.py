"""BatchNormalization."""
from __future__ import annotations

import numbers
from typing import Any, Optional, Tuple

import numpy as np

from ... import _checks as chk
from ... import functional as F
from ..initializers import initialize, initializer_arg
from ..layer import Layer, Shape


class BatchNormalization(Layer):
    """Keras's BatchNormalization: each channel (the `axis`) normalized by the
    batch's mean and variance when training, by the moving averages otherwise:

        y = (x - mean) / sqrt(var + epsilon) * gamma + beta
        moving = moving * momentum + batch * (1 - momentum)     (after each training batch)

    The variance is the biased one (divided by the number of values), in the
    normalization and in the moving average, as in Keras.  Weights, in Keras's
    order: gamma (scale=True), beta (center=True) -- trained -- then
    moving_mean and moving_variance, which the layer updates itself
    (non_trainable_weights).  A frozen layer (trainable=False) runs in
    inference mode, as in Keras 3.  One C pass per direction over the data
    (ccnn.functional's batch_norm kernels)."""

    axis: int
    momentum: float
    epsilon: float
    center: bool
    scale: bool
    beta_initializer: Any
    gamma_initializer: Any
    moving_mean_initializer: Any
    moving_variance_initializer: Any
    _CACHE_ATTRS = Layer._CACHE_ATTRS + ("x3", "mean", "invstd", "as_view", "used_batch_stats")

    def __init__(self, axis: int = -1, momentum: float = 0.99, epsilon: float = 1e-3,
                 center: bool = True, scale: bool = True, beta_initializer: str = "zeros",
                 gamma_initializer: str = "ones", moving_mean_initializer: str = "zeros",
                 moving_variance_initializer: str = "ones", beta_regularizer: Any = None,
                 gamma_regularizer: Any = None, beta_constraint: Any = None,
                 gamma_constraint: Any = None, synchronized: bool = False, **kwargs):
        super().__init__(**kwargs)
        if isinstance(axis, bool) or not isinstance(axis, numbers.Integral):
            raise ValueError(f"axis must be an int, got {axis!r}")
        self.axis = int(axis)
        self.momentum = self._fraction(momentum, "momentum")
        if (isinstance(epsilon, bool) or not isinstance(epsilon, numbers.Real)
                or not float(epsilon) > 0):
            raise ValueError(f"epsilon must be a positive number, got {epsilon!r}")
        self.epsilon = float(epsilon)
        self.center = chk.boolean(center, "center")
        self.scale = chk.boolean(scale, "scale")
        self.beta_initializer = initializer_arg(beta_initializer, "beta_initializer")
        self.gamma_initializer = initializer_arg(gamma_initializer, "gamma_initializer")
        self.moving_mean_initializer = initializer_arg(moving_mean_initializer,
                                                       "moving_mean_initializer")
        self.moving_variance_initializer = initializer_arg(moving_variance_initializer,
                                                           "moving_variance_initializer")
        for value, what in ((beta_regularizer, "beta_regularizer"),
                            (gamma_regularizer, "gamma_regularizer"),
                            (beta_constraint, "beta_constraint"),
                            (gamma_constraint, "gamma_constraint")):
            if value is not None:
                raise ValueError(f"{what} is not supported by ccnn's BatchNormalization yet; "
                                 f"pass None")
        if synchronized:
            raise ValueError("synchronized=True (cross-device statistics) is not supported")

    @staticmethod
    def _fraction(v: Any, name: str) -> float:
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or not 0 <= float(v) <= 1:
            raise ValueError(f"{name} must be a number in [0, 1], got {v!r}")
        return float(v)

    def _channel_axis(self, ndim: int) -> int:
        axis = self.axis + ndim if self.axis < 0 else self.axis
        if not 1 <= axis < ndim:
            raise ValueError(f"BatchNormalization axis={self.axis} is out of range for inputs "
                             f"of rank {ndim} (the batch axis cannot be normalized over)")
        return axis

    def _fixed_axes(self, ndim: int) -> Optional[Tuple[int, ...]]:
        return (self.axis + ndim if self.axis < 0 else self.axis,)   # the features

    def build(self, input_shape: Shape) -> None:
        input_shape = tuple(input_shape)
        c = input_shape[self._channel_axis(len(input_shape))]
        if c is None:
            raise ValueError(f"BatchNormalization needs a known size along axis {self.axis}, "
                             f"got input shape {input_shape}")
        self.params = {}
        if self.scale:
            self.params["gamma"] = initialize(self.gamma_initializer, (c,), c, c, self.dtype)
        if self.center:
            self.params["beta"] = initialize(self.beta_initializer, (c,), c, c, self.dtype)
        self.states = {
            "moving_mean": initialize(self.moving_mean_initializer, (c,), c, c, self.dtype),
            "moving_variance": initialize(self.moving_variance_initializer, (c,), c, c,
                                          self.dtype)}
        super().build(input_shape)

    def _as_3d(self, a: np.ndarray) -> Tuple[np.ndarray, bool]:
        """(a as a C-contiguous (outer, C, inner), whether it is the NCHW base of
        a channels-last view).  The channels-last view of an NCHW buffer that
        Conv2D and pooling hand on is normalized in place of its base, no copy."""
        axis = self._channel_axis(a.ndim)
        if a.ndim == 4 and axis == 3 and not a.flags.c_contiguous:
            base = a.transpose(0, 3, 1, 2)
            if base.flags.c_contiguous:
                n, c, h, w = base.shape
                return base.reshape(n, c, h * w), True
        a = np.ascontiguousarray(a, dtype=self.dtype)
        outer = int(np.prod(a.shape[:axis], dtype=np.int64))
        inner = int(np.prod(a.shape[axis + 1:], dtype=np.int64))
        return a.reshape(outer, a.shape[axis], inner), False

    def _restore(self, a3: np.ndarray, shape: Tuple[int, ...], as_view: bool) -> np.ndarray:
        if as_view:
            n, h, w, c = shape
            return a3.reshape(n, c, h, w).transpose(0, 2, 3, 1)
        return a3.reshape(shape)

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        x = self._check_input(x)
        self.x3, self.as_view = self._as_3d(x)
        self.x_shape = x.shape
        gamma, beta = self.params.get("gamma"), self.params.get("beta")
        self.used_batch_stats = training and self.trainable
        if self.used_batch_stats:
            if self.x3.shape[0] * self.x3.shape[2] == 0:
                raise ValueError("BatchNormalization needs at least one value per channel "
                                 "in a training batch")
            mean, var = F.batch_norm_stats_unchecked(self.x3)
            m = self.momentum
            for key, batch in (("moving_mean", mean), ("moving_variance", var)):
                moving = self.states[key]
                moving *= m
                moving += batch * (1 - m)
        else:
            mean, var = self.states["moving_mean"], self.states["moving_variance"]
        self.mean = mean
        self.invstd = F._invstd(var, self.epsilon, self.x3.dtype.type)
        y3 = F.batch_norm_unchecked(self.x3, mean, self.invstd, gamma, beta)
        return self._restore(y3, self.x_shape, self.as_view)

    def backward(self, dout: np.ndarray) -> Optional[np.ndarray]:  # type: ignore[override]
        dout = np.asarray(dout, dtype=self.dtype)
        if self.as_view:
            d3 = np.ascontiguousarray(dout.transpose(0, 3, 1, 2)).reshape(self.x3.shape)
        else:
            d3 = np.ascontiguousarray(dout).reshape(self.x3.shape)
        dx3, dgamma, dbeta = F.batch_norm_backward_unchecked(
            d3, self.x3, self.mean, self.invstd, self.params.get("gamma"),
            self.used_batch_stats, self.need_input_grad, self.scale, self.center)
        self.grads = {}
        if self.scale:
            assert dgamma is not None
            self.grads["gamma"] = dgamma
        if self.center:
            assert dbeta is not None
            self.grads["beta"] = dbeta
        if dx3 is None:
            return None
        return self._restore(dx3, self.x_shape, self.as_view)

    def get_config(self) -> dict:
        return {**super().get_config(), "axis": self.axis, "momentum": self.momentum,
                "epsilon": self.epsilon, "center": self.center, "scale": self.scale,
                "beta_initializer": self.beta_initializer,
                "gamma_initializer": self.gamma_initializer,
                "moving_mean_initializer": self.moving_mean_initializer,
                "moving_variance_initializer": self.moving_variance_initializer}
