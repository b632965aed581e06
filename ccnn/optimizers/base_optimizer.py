"""ccnn.optimizers.Optimizer -- Keras 3's BaseOptimizer over numpy arrays.

    opt = ccnn.optimizers.Adam(learning_rate=0.001)
    opt.apply_gradients(zip(grads, params))      # params: numpy arrays, updated in place

learning_rate is a float or a schedule from ccnn.optimizers.schedules, which
(as in Keras) is evaluated at the optimizer's iteration count before each
update: the first update uses schedule(0).  A float learning rate can be
set at any time (opt.learning_rate = 1e-4, as LearningRateScheduler and
ReduceLROnPlateau do); reading opt.learning_rate gives the current value.

Every optimizer takes Keras's base-class arguments, applied in Keras's order
before the update (BaseOptimizer._backend_apply_gradients):

    1. clipping (at most one of them):
         clipnorm:        g = g * clipnorm / max(||g||, clipnorm)   per gradient
         global_clipnorm: g = g * clipnorm * min(1 / N, 1 / clipnorm), N the norm
                          of all the gradients together
         clipvalue:       g = clip(g, -clipvalue, clipvalue)
    2. weight_decay (decoupled):  param = param - param * weight_decay * learning_rate
    3. the optimizer's own update.

All three are fused into the optimizer's one C pass over each parameter
(csrc/kernels/optim.c); the norms come from one C pass over the gradients.

Parameters are float32 or float64 numpy arrays, C-contiguous and writeable;
they are changed in place, so every reference to them sees the update.  The
optimizer keeps its per-parameter state in a list, one entry per parameter in
the order first seen, each entry holding the parameter itself: state follows
the array object, survives pickling together with the model (pickle preserves
the shared arrays), and an array is never confused with a later one that
reuses its id.
"""
from __future__ import annotations

import abc
import math
import numbers
import operator
from typing import Any, Dict, Iterable, List, Optional, Tuple, Union

import numpy as np

from .. import _optim
from .._config import get_num_threads
from .._interrupt import deferred_keyboard_interrupt
from . import schedules
from .schedules import LearningRateSchedule

#: Keras's BaseOptimizer arguments that ccnn does not implement, with the value
#: that means "off"; from_config accepts them (Keras's configs carry them) only then.
_KERAS_ONLY = {"use_ema": False, "ema_momentum": 0.99, "ema_overwrite_frequency": None,
               "loss_scale_factor": None, "gradient_accumulation_steps": None}


_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def _real(value: Any, name: str) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a float, got {type(value).__name__} {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    return value


def _in_range(value: Any, name: str, low: float, high: float, high_open: bool = False) -> float:
    """`value` as a float in [low, high] ([low, high) when high_open)."""
    value = _real(value, name)
    if not (low <= value and (value < high if high_open else value <= high)):
        raise ValueError(f"{name} must be in [{low:g}, {high:g}{')' if high_open else ']'}, "
                         f"got {value}")
    return value


def _non_negative(value: Any, name: str) -> float:
    value = _real(value, name)
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value}")
    return value


def _optional_non_negative(value: Any, name: str) -> Optional[float]:
    return None if value is None else _non_negative(value, name)


def _bool(value: Any, name: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a bool, got {type(value).__name__}")
    return bool(value)


#: the methods on the update path the training plan stands in for: a subclass
#: defining one of them has _plan_kernel None unless it sets _plan_kernel too
_UPDATE_PATH = frozenset(("apply_gradients", "_update_all", "_decays", "_flat_state", "_step",
                          "_kernel_args", "_plan_slots"))


def _describe(obj: Any) -> str:
    """repr(obj) for an error message, or its class name when repr fails (a
    user's schedule whose get_config raises)."""
    try:
        return repr(obj)
    except Exception:
        return type(obj).__name__


class Optimizer(abc.ABC):
    """Base class: parameter bookkeeping, validation, clipping, weight decay
    and `apply_gradients`.  A subclass names its state arrays (`_slot_names`)
    and runs its fused kernel over them (`_step`)."""

    _slot_names: Tuple[str, ...] = ()
    #: plan_train.h's CCNN_TO_* code of the optim.c step kernel `_step` calls
    #: (with `_plan_slots`' state lists and `_kernel_args`' scalars), which the
    #: training plan (ccnn.models.train_plan) may call in its stead; None: the
    #: update stays apply_gradients.  A subclass that overrides a method of the
    #: update path (_UPDATE_PATH) gets None unless it sets _plan_kernel itself.
    _plan_kernel: Optional[int] = None
    # defaults for optimizers pickled before these arguments existed
    weight_decay: Optional[float] = None
    clipnorm: Optional[float] = None
    clipvalue: Optional[float] = None
    global_clipnorm: Optional[float] = None

    def __init__(self, learning_rate: Union[float, LearningRateSchedule], name: str,
                 weight_decay: Optional[float] = None, clipnorm: Optional[float] = None,
                 clipvalue: Optional[float] = None, global_clipnorm: Optional[float] = None):
        if not isinstance(name, str):
            raise TypeError(f"name must be a str, got {type(name).__name__}")
        self.name = name
        self.learning_rate = learning_rate  # validated by the property
        self.weight_decay = _optional_non_negative(weight_decay, "weight_decay")
        self.clipnorm = _optional_non_negative(clipnorm, "clipnorm")
        self.clipvalue = _optional_non_negative(clipvalue, "clipvalue")
        self.global_clipnorm = _optional_non_negative(global_clipnorm, "global_clipnorm")
        if sum(a is not None for a in (clipnorm, clipvalue, global_clipnorm)) > 1:
            raise ValueError(f"Only one of `clipnorm`, `clipvalue` and `global_clipnorm` can "
                             f"be set. Received: clipnorm={clipnorm}, clipvalue={clipvalue}, "
                             f"global_clipnorm={global_clipnorm}")
        self.iterations = 0                 # apply_gradients calls so far (Keras's counter)
        self._slots: List[Dict[str, np.ndarray]] = []  # {"param": p, <slot>: array, ...}
        self._index: Dict[int, int] = {}               # id(param) -> position in _slots
        self._no_decay: List[np.ndarray] = []          # exclude_from_weight_decay's arrays

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
        self._learning_rate = _non_negative(value, "learning_rate")

    def exclude_from_weight_decay(self, var_list: Optional[Iterable[np.ndarray]] = None,
                                  var_names: Optional[Iterable[str]] = None) -> None:
        """Keep these parameters (numpy arrays) out of weight decay, as Keras's
        method; call it before the first update.  ccnn's parameters are plain
        arrays without names, so var_names is refused."""
        if self._slots:
            raise ValueError("`exclude_from_weight_decay()` can only be configured before "
                             "the optimizer is built.")
        if var_names:
            raise ValueError("var_names: ccnn's parameters are numpy arrays without names; "
                             "pass the arrays themselves as var_list")
        arrays = list(var_list or [])
        for i, a in enumerate(arrays):
            if not isinstance(a, np.ndarray):
                raise TypeError(f"var_list[{i}] must be a numpy array, got {type(a).__name__}")
        self._no_decay = arrays

    # -- state
    def _slot_initial(self, slot: str) -> float:
        """The value a new state array starts at (Keras's initializer)."""
        return 0.0

    def _slot(self, param: np.ndarray) -> Dict[str, np.ndarray]:
        pos = self._index.get(id(param))
        if pos is None:
            entry = {"param": param}
            self._index[id(param)] = len(self._slots)
            self._slots.append(entry)
        else:
            entry = self._slots[pos]
        for s in self._slot_names:  # also fills slots an older pickle lacks
            if s not in entry:
                entry[s] = np.full(param.size, self._slot_initial(s), dtype=param.dtype)
        return entry

    def __getstate__(self):
        state = self.__dict__.copy()
        del state["_index"]  # ids change across pickling; rebuilt from _slots
        state.pop("_flat_cache", None)
        return state

    def __setstate__(self, state):
        state.setdefault("_no_decay", [])
        self.__dict__.update(state)
        self._index = {id(e["param"]): i for i, e in enumerate(self._slots)}

    @property
    def variables(self) -> List[np.ndarray]:
        """State arrays, in the order the parameters were first seen."""
        return [e[s] for e in self._slots for s in self._slot_names if s in e]

    # -- state as named arrays (for an .npz file; nothing pickled)
    _scalar_state: Tuple[str, ...] = ()  # per-optimizer numbers besides iterations

    def _params_in_order(self, params: Optional[Iterable[np.ndarray]]) -> List[np.ndarray]:
        if params is None:
            return [e["param"] for e in self._slots]
        params = list(params)
        for i, p in enumerate(params):
            if not isinstance(p, np.ndarray):
                raise TypeError(f"params[{i}] must be a numpy array, got {type(p).__name__}")
        return params

    def get_state(self, params: Optional[Iterable[np.ndarray]] = None) -> Dict[str, np.ndarray]:
        """The optimizer's state as named arrays (copies), for np.savez or
        ccnn.models.saving.save_npz_atomic: 'iterations', 'learning_rate' (a
        float rate; a schedule is configuration), the optimizer's own numbers
        (Nadam's 'u_product') and, for the i-th of `params` (default: every
        parameter, in the order first seen), '{i}/{slot}' shaped like it.  A
        parameter not updated yet has no '{i}/...' entries."""
        params = self._params_in_order(params)
        state = {"iterations": np.array(self.iterations, dtype=np.int64)}
        if not isinstance(self._learning_rate, LearningRateSchedule):
            state["learning_rate"] = np.array(self._learning_rate)
        for name in self._scalar_state:
            state[name] = np.array(getattr(self, name))
        for i, p in enumerate(params):
            pos = self._index.get(id(p))
            if pos is not None:
                entry = self._slots[pos]
                for s in self._slot_names:
                    if s in entry:
                        state[f"{i}/{s}"] = entry[s].reshape(p.shape).copy()
        return state

    def set_state(self, state: Dict[str, np.ndarray],
                  params: Optional[Iterable[np.ndarray]] = None) -> None:
        """Restore get_state()'s arrays, the i-th '{i}/{slot}' becoming the
        state of the i-th of `params` (default: the parameters already seen, in
        order).  Every name, shape and dtype is checked before anything changes."""
        params = self._params_in_order(params)
        if not isinstance(state, dict) or "iterations" not in state:
            raise TypeError("state must be a dict from get_state() (with 'iterations')")
        known = {"iterations", "learning_rate", *self._scalar_state}
        slots: Dict[int, Dict[str, np.ndarray]] = {}
        for key, value in state.items():
            value = np.asarray(value)
            if key in known:
                if value.shape != () or value.dtype.kind not in "iuf":
                    raise ValueError(f"state[{key!r}] must be a number, got {value!r}")
                continue
            i_text, _, slot = key.partition("/")
            if not i_text.isdigit() or slot not in self._slot_names:
                raise ValueError(f"state[{key!r}]: not a state of this {type(self).__name__} "
                                 f"(its slots are {list(self._slot_names)})")
            i = int(i_text)
            if i >= len(params):
                raise ValueError(f"state[{key!r}]: only {len(params)} params were given")
            p = params[i]
            if value.shape != p.shape or value.dtype != p.dtype:
                raise ValueError(f"state[{key!r}] is {value.dtype}{list(value.shape)} but "
                                 f"params[{i}] is {p.dtype}{list(p.shape)}")
            slots.setdefault(i, {})[slot] = value
        for i, got in slots.items():
            if set(got) != set(self._slot_names):
                raise ValueError(f"state for params[{i}] has {sorted(got)}, this "
                                 f"{type(self).__name__} needs {sorted(self._slot_names)}")
        iterations = int(state["iterations"])
        if iterations < 0:
            raise ValueError(f"state['iterations'] must be >= 0, got {iterations}")
        # checked: now change things
        self.iterations = iterations
        if "learning_rate" in state and not isinstance(self._learning_rate,
                                                       LearningRateSchedule):
            self.learning_rate = float(state["learning_rate"])
        for name in self._scalar_state:
            if name in state:
                setattr(self, name, float(state[name]))
        for i, got in slots.items():
            entry = self._slot(params[i])
            for s, value in got.items():
                np.copyto(entry[s], value.reshape(-1))
        self.__dict__.pop("_flat_cache", None)

    # -- the update
    @staticmethod
    def _check_pair(i: int, pair: Any) -> Tuple[Any, np.ndarray]:
        try:
            grad, param = pair
        except (TypeError, ValueError):
            raise TypeError(f"apply_gradients expects (grad, param) pairs, e.g. "
                            f"zip(grads, params); item {i} is {type(pair).__name__}") from None
        if (type(grad) is np.ndarray and type(param) is np.ndarray
                and grad.dtype == param.dtype and param.dtype in _FLOATS
                and grad.shape == param.shape and grad.flags.c_contiguous
                and param.flags.c_contiguous and param.flags.writeable):
            return grad, param   # what a layer's backward gives: nothing to convert
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
            raise ValueError(f"the learning rate schedule {_describe(self._learning_rate)} "
                             f"gave {lr} at step {self.iterations}; it must be finite and >= 0")
        with deferred_keyboard_interrupt():
            self._step_lr = lr
            self.iterations += 1
            self._update_all(pairs, nthreads)
        return self.iterations

    def _grad_scales(self, grads: List[np.ndarray], nthreads: int) -> Optional[np.ndarray]:
        """Each gradient's clipnorm / global_clipnorm factor (Keras's
        _clip_by_norm / clip_by_global_norm), or None without norm clipping."""
        clip = self.clipnorm if self.clipnorm else self.global_clipnorm
        if not clip:
            return None
        sums = np.zeros(len(grads))
        for dtype in (np.float32, np.float64):
            idx = [i for i, g in enumerate(grads) if g.dtype == dtype]
            if idx:
                sums[idx] = _optim.sum_squares([grads[i].reshape(-1) for i in idx], nthreads)
        with np.errstate(divide="ignore", invalid="ignore"):
            if self.clipnorm:
                return clip / np.maximum(np.sqrt(sums), clip)
            norm = np.sqrt(sums.sum())
            scale = clip * np.minimum(1.0 / norm, 1.0 / clip) + (norm - norm)
        return np.full(len(grads), scale)

    def _decays(self, params: List[np.ndarray], lr: Optional[float] = None
                ) -> Optional[np.ndarray]:
        """Each parameter's weight_decay * lr (by default the step's learning
        rate; 0 when excluded), or None."""
        if self.weight_decay is None:
            return None
        excluded = {id(a) for a in self._no_decay}
        wd = self.weight_decay * (self._step_lr if lr is None else lr)
        return np.array([0.0 if id(p) in excluded else wd for p in params])

    def _update_all(self, pairs: List[Tuple[np.ndarray, np.ndarray]], nthreads: int) -> None:
        """Every (grad, param) pair updated: the clipping factors and decays,
        then per dtype one call of the optimizer's fused kernel."""
        grads = [g for g, _ in pairs]
        params = [p for _, p in pairs]
        gscale = self._grad_scales(grads, nthreads)
        decay = self._decays(params)
        clipvalue = self.clipvalue or 0.0
        dtype0 = params[0].dtype
        if gscale is None and decay is None and all(p.dtype == dtype0 for p in params):
            flat, state = self._flat_state(params)     # one dtype: one call, no indexing
            self._step(flat, state, [g.reshape(-1) for g in grads], None, clipvalue, None,
                       nthreads)
            return
        for dtype in (np.float32, np.float64):
            idx = [i for i, p in enumerate(params) if p.dtype == dtype]
            if not idx:
                continue
            flat, state = self._flat_state([params[i] for i in idx])
            self._step(flat, state, [grads[i].reshape(-1) for i in idx],
                       None if gscale is None else gscale[idx], clipvalue,
                       None if decay is None else decay[idx], nthreads)

    def _flat_state(self, params: List[np.ndarray]
                    ) -> Tuple[List[np.ndarray], Dict[str, List[np.ndarray]]]:
        """Flat views of params and their state lists by slot name, remembered
        for the same list of parameters (a training loop passes the same ones
        every step)."""
        cached = self.__dict__.get("_flat_cache")
        names = self._slot_names
        if cached is None or cached[1] != names or len(cached[0]) != len(params) or not all(
                map(operator.is_, cached[0], params)):
            slots = [self._slot(p) for p in params]
            cached = (list(params), names, ([p.reshape(-1) for p in params],
                                            {s: [e[s] for e in slots] for s in names}))
            self.__dict__["_flat_cache"] = cached
        return cached[2]

    def _plan_slots(self) -> Tuple[Optional[str], ...]:
        """The slots `_step` passes as its kernel's state lists, in order (None: NULL)."""
        return ()

    def _has_state(self, params: List[np.ndarray]) -> bool:
        """Whether every param already has all its state arrays (an update
        through _flat_state would make none)."""
        index, slots, names = self._index, self._slots, self._slot_names
        return all(id(p) in index and all(s in slots[index[id(p)]] for s in names)
                   for p in params)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "_plan_kernel" not in cls.__dict__ and not _UPDATE_PATH.isdisjoint(cls.__dict__):
            cls._plan_kernel = None     # Python the plan's kernel would not run
        if cls._plan_kernel is not None and not hasattr(cls, "_kernel_args"):
            raise TypeError(f"{cls.__name__} sets _plan_kernel but defines no _kernel_args "
                            f"(the scalars the plan passes that kernel)")

    @abc.abstractmethod
    def _step(self, params: List[np.ndarray], state: Dict[str, List[np.ndarray]],
              grads: List[np.ndarray], gscale: Optional[np.ndarray], clipvalue: float,
              decay: Optional[np.ndarray], nthreads: int) -> None:
        """One fused C call over flat params of one dtype, their state lists
        (by slot name) and grads, with the clipping factors and decays."""

    # -- configuration
    def get_config(self) -> dict:
        lr = self._learning_rate
        return {"name": self.name, "learning_rate":
                schedules.serialize(lr) if isinstance(lr, LearningRateSchedule) else lr,
                "weight_decay": self.weight_decay, "clipnorm": self.clipnorm,
                "global_clipnorm": self.global_clipnorm, "clipvalue": self.clipvalue}

    @classmethod
    def from_config(cls, config: dict) -> "Optimizer":
        """A new optimizer (without state) from get_config() (or Keras's
        config: its EMA / loss-scaling / accumulation keys are accepted when
        off); a serialized schedule as learning_rate is rebuilt."""
        config = dict(config)
        for key, off in _KERAS_ONLY.items():
            if key in config:
                value = config.pop(key)
                if value != off:
                    raise ValueError(f"{key}={value!r}: ccnn's optimizers do not implement "
                                     f"{key} (only {key}={off!r})")
        if isinstance(config.get("learning_rate"), dict):
            config["learning_rate"] = schedules.deserialize(config["learning_rate"])
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items() if k != "name")
        return f"{type(self).__name__}({args})"

