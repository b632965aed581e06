"""Adagrad (Duchi et al.), Keras 3's form: keras/src/optimizers/adagrad.py."""
from __future__ import annotations

from typing import Optional, Tuple, Union

from .. import _optim
from .base_optimizer import Optimizer, _non_negative
from .schedules import LearningRateSchedule


class Adagrad(Optimizer):
    """Adagrad (the accumulator starts at initial_accumulator_value):

        accumulator += g**2
        param -= learning_rate * g / sqrt(accumulator + epsilon)
    """
    _slot_names = ("accumulator",)

    def __init__(self, learning_rate: Union[float, LearningRateSchedule] = 0.001,
                 initial_accumulator_value: float = 0.1, epsilon: float = 1e-7,
                 weight_decay: Optional[float] = None, clipnorm: Optional[float] = None,
                 clipvalue: Optional[float] = None, global_clipnorm: Optional[float] = None,
                 name: str = "adagrad"):
        super().__init__(learning_rate, name, weight_decay, clipnorm, clipvalue, global_clipnorm)
        self.initial_accumulator_value = _non_negative(initial_accumulator_value,
                                                       "initial_accumulator_value")
        self.epsilon = _non_negative(epsilon, "epsilon")

    def _slot_initial(self, slot: str) -> float:
        return self.initial_accumulator_value

    _plan_kernel = _optim.PLAN_ADAGRAD     # plan_train.h's CCNN_TO_ADAGRAD

    def _plan_slots(self):
        return ("accumulator",)

    def _kernel_args(self, t: int, lr: float) -> Tuple[float, float]:
        return lr, self.epsilon

    def _step(self, params, state, grads, gscale, clipvalue, decay, nthreads):
        _optim.adagrad_step(params, state["accumulator"], grads, gscale, clipvalue, decay,
                            *self._kernel_args(self.iterations, self._step_lr), nthreads)

    def get_config(self) -> dict:
        return {**super().get_config(),
                "initial_accumulator_value": self.initial_accumulator_value,
                "epsilon": self.epsilon}
