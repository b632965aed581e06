"""ccnn.optimizers -- Keras's Adam and SGD, each update one fused C pass.

    opt = ccnn.optimizers.Adam(learning_rate=0.001)
    opt.apply_gradients(zip(grads, params))      # params: numpy arrays, updated in place

learning_rate is a float or a schedule from ccnn.optimizers.schedules, which
(as in Keras) is evaluated at the optimizer's iteration count before each
update: the first update uses schedule(0).  A float learning rate can be
set at any time (opt.learning_rate = 1e-4, as LearningRateScheduler and
ReduceLROnPlateau do); reading opt.learning_rate gives the current value.

Parameters are float32 or float64 numpy arrays, C-contiguous and writeable;
they are changed in place, so every reference to them sees the update.  The
optimizer keeps its per-parameter state (Adam's m and v, SGD's velocity) in
a list, one entry per parameter in the order first seen, each entry holding
the parameter itself: state follows the array object, survives pickling
together with the model (pickle preserves the shared arrays), and an array
is never confused with a later one that reuses its id.
"""
from __future__ import annotations

import abc
import math
import numbers
from typing import Any, Dict, Iterable, List, Tuple, Union

import numpy as np

from .. import _optim
from .._config import get_num_threads
from .._interrupt import deferred_keyboard_interrupt
from . import schedules
from .schedules import LearningRateSchedule

__all__ = ["Optimizer", "Adam", "SGD", "get", "schedules"]


def _real(value: Any, name: str) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a float, got {type(value).__name__} {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    return value


class Optimizer(abc.ABC):
    """Base class: parameter bookkeeping, validation, `apply_gradients`."""

    _slot_names: Tuple[str, ...] = ()

    def __init__(self, learning_rate: Union[float, LearningRateSchedule], name: str):
        self.name = name
        self.learning_rate = learning_rate  # validated by the property
        self.iterations = 0                 # apply_gradients calls so far (Keras's counter)
        self._slots: List[Dict[str, np.ndarray]] = []  # {"param": p, <slot>: array, ...}
        self._index: Dict[int, int] = {}               # id(param) -> position in _slots

    # -- hyper-parameters
    @property
    def learning_rate(self) -> float:
        """The current learning rate: the float, or the schedule's value at
        the current iteration count (what the next update will use)."""
        lr = self._learning_rate
        if isinstance(lr, LearningRateSchedule):
            return float(lr(self.iterations))
        return lr

    @learning_rate.setter
    def learning_rate(self, value: Union[float, LearningRateSchedule]) -> None:
        if isinstance(value, LearningRateSchedule):
            self._learning_rate: Union[float, LearningRateSchedule] = value
            return
        if isinstance(self.__dict__.get("_learning_rate"), LearningRateSchedule):
            raise TypeError("This optimizer was created with a `LearningRateSchedule` object "
                            "as its `learning_rate` constructor argument, hence its learning "
                            "rate is not settable. If you need the learning rate to be "
                            "settable, you should instantiate the optimizer with a float "
                            "`learning_rate` argument.")
        value = _real(value, "learning_rate")
        if value < 0:
            raise ValueError(f"learning_rate must be >= 0, got {value}")
        self._learning_rate = value

    # -- state
    def _slot(self, param: np.ndarray) -> Dict[str, np.ndarray]:
        pos = self._index.get(id(param))
        if pos is None:
            entry = {"param": param}
            for s in self._slot_names:
                entry[s] = np.zeros(param.size, dtype=param.dtype)
            self._index[id(param)] = len(self._slots)
            self._slots.append(entry)
            return entry
        return self._slots[pos]

    def __getstate__(self):
        state = self.__dict__.copy()
        del state["_index"]  # ids change across pickling; rebuilt from _slots
        state.pop("_flat_cache", None)
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._index = {id(e["param"]): i for i, e in enumerate(self._slots)}

    @property
    def variables(self) -> List[np.ndarray]:
        """State arrays, in the order the parameters were first seen."""
        return [e[s] for e in self._slots for s in self._slot_names]

    # -- the update
    @staticmethod
    def _check_pair(i: int, pair: Any) -> Tuple[Any, np.ndarray]:
        try:
            grad, param = pair
        except (TypeError, ValueError):
            raise TypeError(f"apply_gradients expects (grad, param) pairs, e.g. "
                            f"zip(grads, params); item {i} is {type(pair).__name__}") from None
        if not isinstance(param, np.ndarray):
            raise TypeError(f"param {i} must be a numpy array, got {type(param).__name__}")
        if param.dtype not in (np.float32, np.float64):
            raise TypeError(f"param {i} must be float32 or float64, got dtype {param.dtype}")
        if not param.flags.writeable:
            raise ValueError(f"param {i} (shape {param.shape}) is read-only; the optimizer "
                             f"updates parameters in place")
        if not param.flags.c_contiguous:
            raise ValueError(f"param {i} (shape {param.shape}) must be C-contiguous; the "
                             f"optimizer updates parameters in place (np.ascontiguousarray "
                             f"would make a copy the model never sees)")
        if grad is None:
            return None, param
        g = np.asarray(grad)
        if g.dtype.kind not in "biuf":
            raise TypeError(f"grad {i} must be a real array, got dtype {g.dtype}")
        if g.shape != param.shape:
            raise ValueError(f"grad {i} has shape {g.shape} but its param has shape "
                             f"{param.shape}")
        return np.ascontiguousarray(g, dtype=param.dtype), param

    def apply_gradients(self, grads_and_vars: Iterable[Tuple[Any, np.ndarray]]) -> int:
        """Update each param in place from its grad; returns the new iteration count.

        Every pair is checked before any parameter changes.  Pairs whose grad
        is None are skipped (as Keras does); all None is a ValueError.  The
        update is atomic with respect to Ctrl-C: a KeyboardInterrupt that
        arrives during it is raised when every parameter has been updated."""
        pairs = [self._check_pair(i, p) for i, p in enumerate(grads_and_vars)]
        seen = set()
        for i, (_, param) in enumerate(pairs):
            if id(param) in seen:
                raise ValueError(f"param {i} appears twice in one apply_gradients call")
            seen.add(id(param))
        pairs = [(g, p) for g, p in pairs if g is not None]
        if not pairs:
            raise ValueError("No gradients provided for any parameter")
        nthreads = get_num_threads()
        # One step is all or nothing: a Ctrl-C that arrives while the parameters
        # are being updated raises KeyboardInterrupt only once every one of them
        # (and the iteration count) has been.
        lr = self.learning_rate  # a schedule's value at the step count before this update
        if not (math.isfinite(lr) and lr >= 0):
            raise ValueError(f"the learning rate schedule {self._learning_rate!r} gave {lr} "
                             f"at step {self.iterations}; it must be finite and >= 0")
        with deferred_keyboard_interrupt():
            self._step_lr = lr
            self.iterations += 1
            self._update_all(pairs, nthreads)
        return self.iterations

    def _update_all(self, pairs: List[Tuple[np.ndarray, np.ndarray]], nthreads: int) -> None:
        """Update every (grad, param) pair; subclasses may do it in one call."""
        for grad, param in pairs:
            self._update(param.reshape(-1), grad.reshape(-1), self._slot(param), nthreads)

    @abc.abstractmethod
    def _update(self, param, grad, slot, nthreads):
        """One parameter's update (flat param and grad, its state slot) in place."""

    def get_config(self) -> dict:
        lr = self._learning_rate
        return {"name": self.name, "learning_rate":
                schedules.serialize(lr) if isinstance(lr, LearningRateSchedule) else lr}

    @classmethod
    def from_config(cls, config: dict) -> "Optimizer":
        """A new optimizer (without state) from get_config(); a serialized
        schedule as learning_rate is rebuilt."""
        config = dict(config)
        if isinstance(config.get("learning_rate"), dict):
            config["learning_rate"] = schedules.deserialize(config["learning_rate"])
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items() if k != "name")
        return f"{type(self).__name__}({args})"


class Adam(Optimizer):
    """Adam (Kingma & Ba), Keras's form with epsilon outside the bias correction:

        t += 1
        m = beta_1 * m + (1 - beta_1) * g
        v = beta_2 * v + (1 - beta_2) * g**2
        alpha_t = learning_rate * sqrt(1 - beta_2**t) / (1 - beta_1**t)
        param -= alpha_t * m / (sqrt(v) + epsilon)
    """
    _slot_names = ("m", "v")

    def __init__(self, learning_rate: Union[float, LearningRateSchedule] = 0.001, beta_1: float = 0.9,
                 beta_2: float = 0.999, epsilon: float = 1e-7, name: str = "adam"):
        super().__init__(learning_rate, name)
        self.beta_1 = _real(beta_1, "beta_1")
        self.beta_2 = _real(beta_2, "beta_2")
        self.epsilon = _real(epsilon, "epsilon")
        for arg in ("beta_1", "beta_2"):
            if not 0.0 <= getattr(self, arg) < 1.0:
                raise ValueError(f"{arg} must be in [0, 1), got {getattr(self, arg)}")
        if self.epsilon < 0:
            raise ValueError(f"epsilon must be >= 0, got {self.epsilon}")

    def _lr_t(self) -> float:
        t = self.iterations
        return self._step_lr * math.sqrt(1.0 - self.beta_2 ** t) / (1.0 - self.beta_1 ** t)

    def _update(self, param, grad, slot, nthreads):
        _optim.adam_update(param, slot["m"], slot["v"], grad, self._lr_t(), self.beta_1,
                           self.beta_2, self.epsilon, nthreads)

    def _update_all(self, pairs, nthreads):
        """Every parameter of one dtype in one C call: one pass, one thread team."""
        lr_t = self._lr_t()
        for dtype in (np.float32, np.float64):
            group = [(g, p) for g, p in pairs if p.dtype == dtype]
            if not group:
                continue
            params, ms, vs = self._flat_state([p for _, p in group])
            _optim.adam_update_many(params, ms, vs, [g.reshape(-1) for g, _ in group],
                                    lr_t, self.beta_1, self.beta_2, self.epsilon, nthreads)

    def _flat_state(self, params: List[np.ndarray]) -> Tuple[list, list, list]:
        """Flat views of params and their m, v slots, remembered for the same
        list of parameters (a training loop passes the same ones every step)."""
        cached = self.__dict__.get("_flat_cache")
        if cached is None or len(cached[0]) != len(params) or any(
                a is not b for a, b in zip(cached[0], params)):
            slots = [self._slot(p) for p in params]
            cached = (list(params), ([p.reshape(-1) for p in params],
                                     [s["m"] for s in slots], [s["v"] for s in slots]))
            self.__dict__["_flat_cache"] = cached
        return cached[1]

    def get_config(self) -> dict:
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2,
                "epsilon": self.epsilon}


class SGD(Optimizer):
    """Stochastic gradient descent, Keras's momentum form:

        momentum == 0:  param -= learning_rate * g
        otherwise:      velocity = momentum * velocity - learning_rate * g
                        param += velocity                               (classic)
                        param += momentum * velocity - learning_rate * g  (nesterov)
    """

    def __init__(self, learning_rate: Union[float, LearningRateSchedule] = 0.01, momentum: float = 0.0,
                 nesterov: bool = False, name: str = "SGD"):
        super().__init__(learning_rate, name)
        self.momentum = _real(momentum, "momentum")
        if not 0.0 <= self.momentum <= 1.0:
            raise ValueError(f"momentum must be in [0, 1], got {self.momentum}")
        if not isinstance(nesterov, (bool, np.bool_)):
            raise TypeError(f"nesterov must be a bool, got {type(nesterov).__name__}")
        self.nesterov = bool(nesterov)

    @property
    def _slot_names(self) -> Tuple[str, ...]:  # type: ignore[override]
        return ("velocity",) if self.momentum != 0 else ()

    def _update(self, param, grad, slot, nthreads):
        _optim.sgd_update(param, slot.get("velocity"), grad, self._step_lr, self.momentum,
                          self.nesterov, nthreads)

    def get_config(self) -> dict:
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}


_OPTIMIZERS = {"adam": Adam, "sgd": SGD}


def get(identifier: Any) -> Optimizer:
    """An optimizer from its Keras name ('adam', 'sgd') or an Optimizer instance."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, str) and identifier.lower() in _OPTIMIZERS:
        return _OPTIMIZERS[identifier.lower()]()
    raise ValueError(f"Unknown optimizer {identifier!r}; ccnn supports 'adam', 'sgd' or a "
                     f"ccnn.optimizers.Optimizer instance")


def all_finite(arrays: Iterable[np.ndarray]) -> bool:
    """True when no element of these float32/float64 arrays is NaN or infinite
    (one C pass; the model checks a batch's gradients with it before updating)."""
    flat = [np.ascontiguousarray(a).reshape(-1) for a in arrays]
    return _optim.all_finite(flat, get_num_threads())
