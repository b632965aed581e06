"""Adadelta (Zeiler), Keras 3's form: keras/src/optimizers/adadelta.py."""
from __future__ import annotations

from typing import Optional, Tuple, Union

from .. import _optim
from .base_optimizer import Optimizer, _in_range, _non_negative
from .schedules import LearningRateSchedule


class Adadelta(Optimizer):
    """Adadelta, rms(x) = sqrt(x + epsilon):

        accumulated_grad = rho * accumulated_grad + (1 - rho) * g**2
        delta = -rms(accumulated_delta_var) * g / rms(accumulated_grad)
        accumulated_delta_var = rho * accumulated_delta_var + (1 - rho) * delta**2
        param += learning_rate * delta
    """
    _slot_names = ("accumulated_grad", "accumulated_delta_var")

    def __init__(self, learning_rate: Union[float, LearningRateSchedule] = 0.001,
                 rho: float = 0.95, epsilon: float = 1e-7,
                 weight_decay: Optional[float] = None, clipnorm: Optional[float] = None,
                 clipvalue: Optional[float] = None, global_clipnorm: Optional[float] = None,
                 name: str = "adadelta"):
        super().__init__(learning_rate, name, weight_decay, clipnorm, clipvalue, global_clipnorm)
        self.rho = _in_range(rho, "rho", 0.0, 1.0)
        self.epsilon = _non_negative(epsilon, "epsilon")

    _plan_kernel = _optim.PLAN_ADADELTA     # plan_train.h's CCNN_TO_ADADELTA

    def _plan_slots(self):
        return ("accumulated_grad", "accumulated_delta_var")

    def _kernel_args(self, t: int, lr: float) -> Tuple[float, float, float]:
        return lr, self.rho, self.epsilon

    def _step(self, params, state, grads, gscale, clipvalue, decay, nthreads):
        _optim.adadelta_step(params, state["accumulated_grad"], state["accumulated_delta_var"],
                             grads, gscale, clipvalue, decay,
                             *self._kernel_args(self.iterations, self._step_lr), nthreads)

    def get_config(self) -> dict:
        return {**super().get_config(), "rho": self.rho, "epsilon": self.epsilon}
