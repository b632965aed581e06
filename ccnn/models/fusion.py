"""The fusion pass: which steps a model runs for its layers.

model.layers are the user's layers (what summary, get_weights, get_config
and pickling see).  At build() and compile() the model derives from them an
execution Plan -- the steps its forward and backward loops run, and the head
that turns the output into the loss and its gradient -- replacing

    Conv2D(activation='relu') + MaxPooling2D(2), as the first two of at
        least three layers          -> layers.fused.Conv2DReLUMaxPool2D
    a softmax output layer + a cross-entropy on probabilities
                                    -> layers.fused.SoftmaxCrossEntropy
    Dense(activation='sigmoid') + a binary cross-entropy on probabilities
                                    -> layers.fused.SigmoidBinaryCrossentropy

The fused steps share the layers' weights and fill the layers' grads.  This
is the seam where a compiled execution plan can come in later.
"""
from __future__ import annotations

from typing import List, NamedTuple, Optional, Sequence, Tuple, Union

import numpy as np

from ..layers import Layer
from ..layers.fused import (Conv2DReLUMaxPool2D, FusedLayer, SigmoidBinaryCrossentropy,
                            SoftmaxCrossEntropy)
from ..losses import Loss

Step = Union[Layer, FusedLayer]


class LossHead:
    """The unfused head: the loss of the model's output itself -- e.g.
    Keras's clipped cross-entropy on probabilities, the mean squared error,
    or the fused softmax / sigmoid cross-entropy when the loss takes logits
    (from_logits=True)."""

    def __init__(self, loss: Loss):
        self.lossfn = loss

    def loss(self, out: np.ndarray, y: np.ndarray) -> Tuple[float, np.ndarray]:
        """(mean loss, d(loss)/d(out))."""
        return self.lossfn.value_and_gradient(out, y)

    def loss_value(self, out: np.ndarray, y: np.ndarray) -> float:
        """loss()'s mean loss alone (evaluate's: no gradient)."""
        return self.lossfn.value(out, y)

    def rows(self, out: np.ndarray, y: np.ndarray) -> np.ndarray:
        """The per-sample losses."""
        return self.lossfn.forward(out, y)


Head = Union[LossHead, SoftmaxCrossEntropy, SigmoidBinaryCrossentropy]


class Plan(NamedTuple):
    """What a model runs: steps in order, and the head (None before compile)."""
    steps: List[Step]
    head: Optional[Head]
    layers: Tuple[Layer, ...]       # the user's layers it was made for
    loss: Optional[Loss]            # and the loss


#: the fusions make_plan applies by default (all of them)
FUSIONS = ("conv2d_relu_maxpool2d", "softmax_cross_entropy", "sigmoid_binary_crossentropy")


def make_plan(layers: Sequence[Layer], loss: Optional[Loss],
              fusions: Sequence[str] = FUSIONS) -> Plan:
    """The plan for built `layers` and `loss` with `fusions` (a subset of
    FUSIONS; () keeps one step per layer)."""
    unknown = set(fusions) - set(FUSIONS)
    if unknown:
        raise ValueError(f"unknown fusions {sorted(unknown)}; ccnn has {list(FUSIONS)}")
    steps: List[Step] = list(layers)
    if ("conv2d_relu_maxpool2d" in fusions and len(steps) >= 3
            and Conv2DReLUMaxPool2D.fits(layers[0], layers[1])):
        # only first: the fused backward gives no input gradient
        steps[:2] = [Conv2DReLUMaxPool2D(layers[0], layers[1])]  # type: ignore[arg-type]
    head: Optional[Head] = None
    if loss is not None:
        head = LossHead(loss)
        for name, cls in (("softmax_cross_entropy", SoftmaxCrossEntropy),
                          ("sigmoid_binary_crossentropy", SigmoidBinaryCrossentropy)):
            if name in fusions and steps and cls.fits(layers[-1], loss):
                head = cls(layers[-1], loss)
                steps[-1] = head
    return Plan(steps, head, tuple(layers), loss)
