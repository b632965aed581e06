"""Adamax (Adam with the infinity norm), Keras 3's form: keras/src/optimizers/adamax.py."""
from __future__ import annotations

from typing import Optional, Tuple, Union

from .. import _optim
from .base_optimizer import Optimizer, _in_range, _non_negative
from .schedules import LearningRateSchedule


class Adamax(Optimizer):
    """Adamax:

        t += 1
        m = beta_1 * m + (1 - beta_1) * g
        u = max(beta_2 * u, abs(g))
        param -= learning_rate * m / ((1 - beta_1**t) * (u + epsilon))
    """
    _slot_names = ("m", "u")

    def __init__(self, learning_rate: Union[float, LearningRateSchedule] = 0.001,
                 beta_1: float = 0.9, beta_2: float = 0.999, epsilon: float = 1e-7,
                 weight_decay: Optional[float] = None, clipnorm: Optional[float] = None,
                 clipvalue: Optional[float] = None, global_clipnorm: Optional[float] = None,
                 name: str = "adamax"):
        super().__init__(learning_rate, name, weight_decay, clipnorm, clipvalue, global_clipnorm)
        self.beta_1 = _in_range(beta_1, "beta_1", 0.0, 1.0, high_open=True)
        self.beta_2 = _in_range(beta_2, "beta_2", 0.0, 1.0)
        self.epsilon = _non_negative(epsilon, "epsilon")

    _plan_kernel = _optim.PLAN_ADAMAX     # plan_train.h's CCNN_TO_ADAMAX

    def _plan_slots(self):
        return ("m", "u")

    def _kernel_args(self, t: int, lr: float) -> Tuple[float, float, float, float, float]:
        return lr, self.beta_1, self.beta_2, self.epsilon, 1.0 - self.beta_1 ** t

    def _step(self, params, state, grads, gscale, clipvalue, decay, nthreads):
        _optim.adamax_step(params, state["m"], state["u"], grads, gscale, clipvalue, decay,
                           *self._kernel_args(self.iterations, self._step_lr), nthreads)

    def get_config(self) -> dict:
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2,
                "epsilon": self.epsilon}
