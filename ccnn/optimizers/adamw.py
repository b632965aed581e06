"""AdamW (Loshchilov & Hutter): Adam with decoupled weight decay on by default,
Keras 3's keras/src/optimizers/adamw.py."""
from __future__ import annotations

from typing import Optional, Union

from .adam import Adam
from .schedules import LearningRateSchedule


class AdamW(Adam):
    """Adam whose weight_decay (default 0.004) is required: before each update
    param -= param * weight_decay * learning_rate, then Adam's step."""

    def __init__(self, learning_rate: Union[float, LearningRateSchedule] = 0.001,
                 weight_decay: float = 0.004, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-7, amsgrad: bool = False,
                 clipnorm: Optional[float] = None, clipvalue: Optional[float] = None,
                 global_clipnorm: Optional[float] = None, name: str = "adam_w"):
        if weight_decay is None:
            raise ValueError("Argument `weight_decay` must be a float. Received: "
                             "weight_decay=None")
        super().__init__(learning_rate, beta_1, beta_2, epsilon, amsgrad, weight_decay,
                         clipnorm, clipvalue, global_clipnorm, name)
