"""Stochastic gradient descent, Keras 3's form: keras/src/optimizers/sgd.py."""
from __future__ import annotations

from typing import Optional, Tuple, Union

from .. import _optim
from .base_optimizer import Optimizer, _bool, _in_range
from .schedules import LearningRateSchedule


class SGD(Optimizer):
    """Stochastic gradient descent with Keras's momentum form:

        momentum == 0:  param -= learning_rate * g
        otherwise:      velocity = momentum * velocity - learning_rate * g
                        param += velocity                               (classic)
                        param += momentum * velocity - learning_rate * g  (nesterov)
    """

    def __init__(self, learning_rate: Union[float, LearningRateSchedule] = 0.01,
                 momentum: float = 0.0, nesterov: bool = False,
                 weight_decay: Optional[float] = None, clipnorm: Optional[float] = None,
                 clipvalue: Optional[float] = None, global_clipnorm: Optional[float] = None,
                 name: str = "SGD"):
        super().__init__(learning_rate, name, weight_decay, clipnorm, clipvalue, global_clipnorm)
        self.momentum = _in_range(momentum, "momentum", 0.0, 1.0)
        self.nesterov = _bool(nesterov, "nesterov")

    @property
    def _slot_names(self) -> Tuple[str, ...]:  # type: ignore[override]
        return ("velocity",) if self.momentum != 0 else ()

    _plan_kernel = _optim.PLAN_SGD     # plan_train.h's CCNN_TO_SGD

    def _plan_slots(self):
        return ("velocity" if self.momentum != 0 else None,)

    def _kernel_args(self, t: int, lr: float) -> Tuple[float, float, float]:
        return lr, self.momentum, float(self.nesterov)

    def _step(self, params, state, grads, gscale, clipvalue, decay, nthreads):
        lr, momentum, nesterov = self._kernel_args(self.iterations, self._step_lr)
        _optim.sgd_step(params, state.get("velocity"), grads, gscale, clipvalue, decay,
                        lr, momentum, bool(nesterov), nthreads)

    def get_config(self) -> dict:
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}
