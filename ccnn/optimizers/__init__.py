"""ccnn.optimizers -- Keras 3's optimizers, each update one fused C pass.

    opt = ccnn.optimizers.Adam(learning_rate=0.001)
    opt.apply_gradients(zip(grads, params))      # params: numpy arrays, updated in place

One module per optimizer, as Keras's tree (base_optimizer.py has the shared
part: learning rate and schedules, clipping, weight decay, state, checks).
Every optimizer takes Keras's names, arguments, defaults and formulas,
including the base-class weight_decay, clipnorm, clipvalue and global_clipnorm.
"""
from __future__ import annotations

from typing import Any, Callable, Dict, Iterable

import numpy as np

from .. import _optim, _serialization
from .._config import get_num_threads
from . import schedules
from .adadelta import Adadelta
from .adagrad import Adagrad
from .adam import Adam
from .adamax import Adamax
from .adamw import AdamW
from .base_optimizer import Optimizer
from .nadam import Nadam
from .rmsprop import RMSprop
from .sgd import SGD

__all__ = ["Optimizer", "Adam", "AdamW", "SGD", "RMSprop", "Adagrad", "Adadelta", "Adamax",
           "Nadam", "get", "serialize", "deserialize", "schedules"]

_OPTIMIZERS: Dict[str, Callable[..., Optimizer]] = {
    cls.__name__: cls for cls in (Adam, AdamW, SGD, RMSprop, Adagrad, Adadelta, Adamax, Nadam)}
_BY_NAME = {name.lower(): cls for name, cls in _OPTIMIZERS.items()}


def serialize(optimizer: Optimizer) -> Dict[str, Any]:
    """{"class_name": ..., "config": optimizer.get_config()} (Keras's form)."""
    return _serialization.serialize(optimizer, Optimizer, "optimizer")


def deserialize(config: Dict[str, Any]) -> Optimizer:
    """A new optimizer (without state) from serialize()'s dict or Keras's."""
    optimizer: Optimizer = _serialization.deserialize(config, _OPTIMIZERS, "optimizer")
    return optimizer


def get(identifier: Any) -> Optimizer:
    """An optimizer from its Keras name ('adam', 'sgd', 'rmsprop', 'adamw',
    'adagrad', 'adadelta', 'adamax', 'nadam'; any case), a serialize() dict,
    or an Optimizer instance (returned as is)."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str) and identifier.lower() in _BY_NAME:
        return _BY_NAME[identifier.lower()]()
    raise ValueError(f"Unknown optimizer {identifier!r}; ccnn supports "
                     f"{', '.join(repr(n) for n in sorted(_BY_NAME))} or a "
                     f"ccnn.optimizers.Optimizer instance")


def all_finite(arrays: Iterable[np.ndarray]) -> bool:
    """True when no element of these float32/float64 arrays is NaN or infinite
    (one C pass; the model checks a batch's gradients with it before updating)."""
    flat = [np.ascontiguousarray(a).reshape(-1) for a in arrays]
    return _optim.all_finite(flat, get_num_threads())
