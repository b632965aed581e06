"""RMSprop (Hinton's lecture 6e), Keras 3's form: keras/src/optimizers/rmsprop.py."""
from __future__ import annotations

from typing import Optional, Tuple, Union

from .. import _optim
from .base_optimizer import Optimizer, _bool, _in_range, _non_negative
from .schedules import LearningRateSchedule


class RMSprop(Optimizer):
    """RMSprop:

        velocity = rho * velocity + (1 - rho) * g**2
        centered:  average_grad = rho * average_grad + (1 - rho) * g
                   denominator = velocity - average_grad**2 + epsilon
        otherwise: denominator = velocity + epsilon
        increment = learning_rate * g / sqrt(denominator)
        momentum > 0: momentum_buf = momentum * momentum_buf + increment
                      param -= momentum_buf
        otherwise:    param -= increment
    """

    def __init__(self, learning_rate: Union[float, LearningRateSchedule] = 0.001,
                 rho: float = 0.9, momentum: float = 0.0, epsilon: float = 1e-7,
                 centered: bool = False, weight_decay: Optional[float] = None,
                 clipnorm: Optional[float] = None, clipvalue: Optional[float] = None,
                 global_clipnorm: Optional[float] = None, name: str = "rm_sprop"):
        super().__init__(learning_rate, name, weight_decay, clipnorm, clipvalue, global_clipnorm)
        self.rho = _in_range(rho, "rho", 0.0, 1.0)
        self.momentum = _in_range(momentum, "momentum", 0.0, 1.0)
        self.epsilon = _non_negative(epsilon, "epsilon")
        self.centered = _bool(centered, "centered")

    @property
    def _slot_names(self) -> Tuple[str, ...]:  # type: ignore[override]
        return (("velocity",) + (("momentum",) if self.momentum > 0 else ())
                + (("average_gradient",) if self.centered else ()))

    _plan_kernel = _optim.PLAN_RMSPROP     # plan_train.h's CCNN_TO_RMSPROP

    def _plan_slots(self):
        return ("velocity", "momentum" if self.momentum > 0 else None,
                "average_gradient" if self.centered else None)

    def _kernel_args(self, t: int, lr: float) -> Tuple[float, float, float, float]:
        return lr, self.rho, self.momentum, self.epsilon

    def _step(self, params, state, grads, gscale, clipvalue, decay, nthreads):
        _optim.rmsprop_step(params, state["velocity"], state.get("momentum"),
                            state.get("average_gradient"), grads, gscale, clipvalue, decay,
                            *self._kernel_args(self.iterations, self._step_lr), nthreads)

    def get_config(self) -> dict:
        return {**super().get_config(), "rho": self.rho, "momentum": self.momentum,
                "epsilon": self.epsilon, "centered": self.centered}
