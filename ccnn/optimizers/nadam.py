"""Nadam (Adam with Nesterov momentum, Dozat), Keras 3's form: keras/src/optimizers/nadam.py."""
from __future__ import annotations

from typing import Optional, Union

from .. import _optim
from .base_optimizer import Optimizer, _in_range, _non_negative
from .schedules import LearningRateSchedule


class Nadam(Optimizer):
    """Nadam, with the momentum schedule u_t = beta_1 * (1 - 0.5 * 0.96**t) and
    its running product u_product (one number per optimizer, as Keras keeps it):

        t += 1
        u_product *= u_t                    (once per apply_gradients)
        m = beta_1 * m + (1 - beta_1) * g
        v = beta_2 * v + (1 - beta_2) * g**2
        m_hat = u_{t+1} * m / (1 - u_product * u_{t+1}) + (1 - u_t) * g / (1 - u_product)
        v_hat = v / (1 - beta_2**t)
        param -= learning_rate * m_hat / (sqrt(v_hat) + epsilon)
    """
    _slot_names = ("m", "v")
    _scalar_state = ("u_product",)

    def __init__(self, learning_rate: Union[float, LearningRateSchedule] = 0.001,
                 beta_1: float = 0.9, beta_2: float = 0.999, epsilon: float = 1e-7,
                 weight_decay: Optional[float] = None, clipnorm: Optional[float] = None,
                 clipvalue: Optional[float] = None, global_clipnorm: Optional[float] = None,
                 name: str = "nadam"):
        super().__init__(learning_rate, name, weight_decay, clipnorm, clipvalue, global_clipnorm)
        self.beta_1 = _in_range(beta_1, "beta_1", 0.0, 1.0, high_open=True)
        self.beta_2 = _in_range(beta_2, "beta_2", 0.0, 1.0, high_open=True)
        self.epsilon = _non_negative(epsilon, "epsilon")
        self.u_product = 1.0

    def _u(self, t: int) -> float:
        return self.beta_1 * (1.0 - 0.5 * 0.96 ** t)

    def _update_all(self, pairs, nthreads):
        self.u_product *= self._u(self.iterations)
        super()._update_all(pairs, nthreads)

    def _step(self, params, state, grads, gscale, clipvalue, decay, nthreads):
        t = self.iterations
        u_t, u_next = self._u(t), self._u(t + 1)
        _optim.nadam_step(params, state["m"], state["v"], grads, gscale, clipvalue, decay,
                          self._step_lr, self.beta_1, self.beta_2, self.epsilon, u_next,
                          1.0 - self.u_product * u_next, 1.0 - u_t, 1.0 - self.u_product,
                          1.0 - self.beta_2 ** t, nthreads)

    def get_config(self) -> dict:
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2,
                "epsilon": self.epsilon}
