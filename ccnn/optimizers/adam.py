"""Adam (Kingma & Ba), Keras 3's form: keras/src/optimizers/adam.py."""
from __future__ import annotations

import math
from typing import Optional, Tuple, Union

from .. import _optim
from .base_optimizer import Optimizer, _bool, _in_range, _non_negative
from .schedules import LearningRateSchedule


class Adam(Optimizer):
    """Adam with epsilon outside the bias correction ("epsilon hat"):

        t += 1
        m = beta_1 * m + (1 - beta_1) * g
        v = beta_2 * v + (1 - beta_2) * g**2
        amsgrad:  v_hat = max(v_hat, v), used for v below
        alpha_t = learning_rate * sqrt(1 - beta_2**t) / (1 - beta_1**t)
        param -= alpha_t * m / (sqrt(v) + epsilon)
    """
    amsgrad = False  # for optimizers pickled before the argument existed

    def __init__(self, learning_rate: Union[float, LearningRateSchedule] = 0.001,
                 beta_1: float = 0.9, beta_2: float = 0.999, epsilon: float = 1e-7,
                 amsgrad: bool = False, weight_decay: Optional[float] = None,
                 clipnorm: Optional[float] = None, clipvalue: Optional[float] = None,
                 global_clipnorm: Optional[float] = None, name: str = "adam"):
        super().__init__(learning_rate, name, weight_decay, clipnorm, clipvalue, global_clipnorm)
        self.beta_1 = _in_range(beta_1, "beta_1", 0.0, 1.0, high_open=True)
        self.beta_2 = _in_range(beta_2, "beta_2", 0.0, 1.0, high_open=True)
        self.epsilon = _non_negative(epsilon, "epsilon")
        self.amsgrad = _bool(amsgrad, "amsgrad")

    @property
    def _slot_names(self) -> Tuple[str, ...]:  # type: ignore[override]
        return ("m", "v", "vhat") if self.amsgrad else ("m", "v")

    _plan_kernel = _optim.PLAN_ADAM     # plan_train.h's CCNN_TO_ADAM

    def _plan_slots(self):
        return ("m", "v", "vhat" if self.amsgrad else None)

    def _kernel_args(self, t: int, lr: float) -> Tuple[float, float, float, float]:
        lr_t = lr * math.sqrt(1.0 - self.beta_2 ** t) / (1.0 - self.beta_1 ** t)
        return lr_t, self.beta_1, self.beta_2, self.epsilon

    def _step(self, params, state, grads, gscale, clipvalue, decay, nthreads):
        _optim.adam_step(params, state["m"], state["v"], state.get("vhat"), grads, gscale,
                         clipvalue, decay, *self._kernel_args(self.iterations, self._step_lr),
                         nthreads)

    def get_config(self) -> dict:
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2,
                "epsilon": self.epsilon, "amsgrad": self.amsgrad}
