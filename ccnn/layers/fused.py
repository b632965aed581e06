"""Fused layers: two of the user's layers run as one step.

A model's fusion pass (ccnn.models.fusion) puts these in its execution plan
in place of the layers they stand for; model.layers keeps the user's layers,
whose weights these share (they read the layers' params and write the
layers' grads, so summary, get_weights, get_config and pickling see only the
user's layers).

    Conv2DReLUMaxPool2D    Conv2D(activation='relu') + MaxPooling2D(2): one
                           kernel, the conv output never reaches memory
    SoftmaxCrossEntropy    the softmax output layer + the cross-entropy loss:
                           the gradient (probs - targets) / N goes straight
                           into the layer's linear part (deep-learning-from-
                           scratch's SoftmaxWithLoss)
    SigmoidBinaryCrossentropy  Dense(activation='sigmoid') + the binary
                           cross-entropy: loss and gradient (sigmoid(z) - t)
                           / (N * units) from the logits, stable for any logit
"""
from __future__ import annotations

import abc
from typing import Optional, Tuple

import numpy as np

from .. import functional as F
from .. import losses
from .activations import Softmax
from .convolutional import Conv2D
from .core import Dense
from .layer import Layer, kernel_bias_grads
from .pooling import MaxPooling2D

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


class FusedLayer(abc.ABC):
    """What a fused step shares with a Layer: forward(x, training),
    backward(dout), need_input_grad; `layers` are the user's layers it runs."""
    need_input_grad: bool = True
    layers: Tuple[Layer, ...] = ()

    @abc.abstractmethod
    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        """The output of the last of `layers`."""

    @abc.abstractmethod
    def backward(self, dout: np.ndarray) -> np.ndarray:
        """d(loss)/d(input); fills the grads of `layers`."""

    def __repr__(self) -> str:
        names = " + ".join(repr(layer.name) for layer in self.layers)
        return f"<{type(self).__name__} of {names}>"


class Conv2DReLUMaxPool2D(FusedLayer):
    """MaxPooling2D(2)(Conv2D(activation='relu')(x)) in one kernel
    (F.conv2d_relu_maxpool2d).  Its backward gives no input gradient, so the
    pass uses it only for a model's first two layers."""

    def __init__(self, conv: Conv2D, pool: MaxPooling2D):
        self.conv, self.pool = conv, pool
        self.layers = (conv, pool)

    @staticmethod
    def fits(conv: Layer, pool: Layer) -> bool:
        """Whether conv followed by pool can run as this fused layer."""
        if not (isinstance(conv, Conv2D) and isinstance(pool, MaxPooling2D)
                and conv._fused_relu() and pool.pool_size == (2, 2)
                and conv.activity_regularizer is None
                and pool.strides == (2, 2) and pool.padding == "valid"
                and pool.data_format == conv.data_format
                and conv.built and conv.input_shape is not None):
            return False
        _, c, h, w = conv._split(conv.input_shape)
        if h is None or w is None or c is None:
            return False
        return F.conv2d_relu_maxpool2d_supported((1, c, h, w), conv.params["kernel"].shape,
                                                 conv.strides, conv.dilation_rate,
                                                 conv._pads(h, w))

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        conv = self.conv
        self.x = conv._to_nchw(conv._check_input(x))                   # (N, C, H, W)
        self.pooled, self.argmax = F.conv2d_relu_maxpool2d_unchecked(
            self.x, conv.params["kernel"], conv.params.get("bias"), conv.strides,
            conv.dilation_rate, conv._pads(*self.x.shape[2:]))        # (N, K, P/2, Q/2)
        return conv._from_nchw(self.pooled)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        """Fills the conv layer's grads from dL/d(pooled output); no input
        gradient (None)."""
        conv = self.conv
        dw, db = F.conv2d_relu_maxpool2d_backward_unchecked(
            conv._to_nchw(dout), self.x, conv.params["kernel"].shape, self.pooled, self.argmax,
            conv.strides, conv.dilation_rate, conv._pads(*self.x.shape[2:]), conv.use_bias)
        conv.grads = kernel_bias_grads(dw, db, conv.use_bias)
        return None  # type: ignore[return-value]


class _LossFromLogits(FusedLayer):
    """The model's output layer ending in an activation (`activation`) with a
    loss that takes that activation's logits (loss.logits_of).  forward is
    the layer's (the output stays the activation's); loss(out, y) computes
    the loss from the layer's logits in C (finite for any logits) and keeps
    d(loss)/d(logits), which backward hands to the layer's linear part."""
    activation = ""

    def __init__(self, layer: Layer, loss: losses.Loss):
        if not isinstance(loss, losses._LogitsLoss) or loss.logits_of != self.activation:
            raise TypeError(f"{type(self).__name__} needs a loss fused with {self.activation!r}, "
                            f"got {loss!r}")
        self.layer, self.lossfn = layer, loss
        self.layers = (layer,)

    @classmethod
    def fits(cls, layer: Layer, loss: losses.Loss) -> bool:
        """Whether `layer` ends in this activation and `loss` can take its logits."""
        return (not loss.from_logits and loss.logits_of == cls.activation
                and getattr(loss, "axis", -1) == -1 and layer.activity_regularizer is None
                and cls._ends_in(layer))

    @staticmethod
    @abc.abstractmethod
    def _ends_in(layer: Layer) -> bool:
        """Whether `layer`'s output is this head's activation."""

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        return self.layer.forward(x, training)

    def loss(self, out: np.ndarray, y: np.ndarray) -> Tuple[float, np.ndarray]:
        """(mean loss, d(loss)/d(logits)) for the last forward's batch."""
        loss, _, self.dlogits = self.lossfn.fused(self._logits(out), y)
        return loss, self.dlogits

    def loss_value(self, out: np.ndarray, y: np.ndarray) -> float:
        """loss()'s mean loss alone, bit for bit (evaluate's: no gradient)."""
        return self.lossfn.fused_value(self._logits(out), y)

    def loss_checked(self, out: np.ndarray, y: np.ndarray) -> Tuple[float, np.ndarray]:
        """loss(out, y) for targets y that the loss has checked already (a
        model's _prepare_y): sparse int64 labels of the right length go to the
        kernel without a second check (their range was checked); the same results."""
        lossfn = self.lossfn
        z = self.layer.logits  # type: ignore[attr-defined]
        if (type(lossfn) is losses.SparseCategoricalCrossentropy and type(z) is np.ndarray
                and z.ndim == 2 and z.shape == out.shape and z.dtype in _FLOATS
                and z.flags.c_contiguous and type(y) is np.ndarray and y.dtype == np.int64
                and y.shape == (z.shape[0],) and y.flags.c_contiguous):
            loss, _, self.dlogits = lossfn._fused(z, y)
            return loss, self.dlogits
        return self.loss(out, y)

    def rows(self, out: np.ndarray, y: np.ndarray) -> np.ndarray:
        """The per-sample losses of the last forward's batch, from the logits."""
        return self.lossfn.logit_rows(self._logits(out), y)

    def _logits(self, out: np.ndarray) -> np.ndarray:
        return np.asarray(self.layer.logits).reshape(out.shape)  # type: ignore[attr-defined]

    def backward(self, dout: Optional[np.ndarray] = None) -> np.ndarray:
        """The input gradient; `dout` is loss()'s d(loss)/d(logits)."""
        return self.layer.backward(self.dlogits if dout is None else dout,  # type: ignore[call-arg]
                                   from_logits=True)


class SoftmaxCrossEntropy(_LossFromLogits):
    """Dense(activation='softmax') or Softmax (over the last axis) with a
    categorical cross-entropy: the gradient (probs - targets) / N."""
    activation = "softmax"

    @staticmethod
    def _ends_in(layer: Layer) -> bool:
        return ((isinstance(layer, Softmax) and layer.axis == -1)
                or (isinstance(layer, Dense) and layer.activation == "softmax"))


class SigmoidBinaryCrossentropy(_LossFromLogits):
    """Dense(activation='sigmoid') with the binary cross-entropy: the loss
    max(z, 0) - z t + log1p(exp(-|z|)) and the gradient (sigmoid(z) - t) /
    (N * units), in C (F.binary_cross_entropy_with_logits)."""
    activation = "sigmoid"

    @staticmethod
    def _ends_in(layer: Layer) -> bool:
        return isinstance(layer, Dense) and layer.activation == "sigmoid"
