"""ccnn.optimizers.schedules -- Keras 3's learning-rate schedules.

    lr = ccnn.optimizers.schedules.CosineDecay(1e-3, decay_steps=10_000,
                                               warmup_target=2e-3, warmup_steps=500)
    opt = ccnn.optimizers.Adam(learning_rate=lr)   # lr(opt.iterations) at every step

A schedule is a callable on the optimizer's step count (0 at the first
update) returning a float; the formulas are Keras's, evaluated in float64.
`get_config` / `from_config` round-trip a schedule; `serialize` /
`deserialize` wrap that in {"class_name", "config"} (Keras's form, whose
extra "module" / "registered_name" keys are accepted and ignored).
"""
from __future__ import annotations

import math
import numbers
from typing import Any, Dict, List, Sequence, Type

from .. import _serialization

__all__ = ["LearningRateSchedule", "ExponentialDecay", "PiecewiseConstantDecay",
           "PolynomialDecay", "InverseTimeDecay", "CosineDecay", "serialize", "deserialize"]


def _real(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {type(value).__name__} {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    return value


def _decay_steps(value: Any, name: str = "decay_steps") -> float:
    if _real(value, name) <= 0:
        raise ValueError(f"Argument `{name}` must be > 0. Received: {name}={value}")
    return value


def _bool(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool, got {type(value).__name__} {value!r}")
    return value


def _str(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, got {type(value).__name__} {value!r}")
    return value


class LearningRateSchedule:
    """Base class: `schedule(step)` -> the learning rate at that step."""

    def __call__(self, step: Any) -> float:
        raise NotImplementedError(f"Learning rate schedule '{type(self).__name__}' must "
                                  f"override `__call__(self, step)`.")

    def get_config(self) -> Dict[str, Any]:
        raise NotImplementedError(f"Learning rate schedule '{type(self).__name__}' must "
                                  f"override `get_config()` in order to be serializable.")

    @classmethod
    def from_config(cls, config: Dict[str, Any]) -> "LearningRateSchedule":
        return cls(**config)

    def __repr__(self) -> str:
        """Name(config), or the class name of a schedule without get_config."""
        try:
            config = self.get_config()
        except NotImplementedError:
            return type(self).__name__
        args = ", ".join(f"{k}={v!r}" for k, v in config.items())
        return f"{type(self).__name__}({args})"


def _step(step: Any) -> float:
    return _real(step, "step")


class _Decay(LearningRateSchedule):
    """The arguments every decaying schedule has, checked once."""

    def __init__(self, initial_learning_rate: float, decay_steps: float, name: str) -> None:
        self.initial_learning_rate = initial_learning_rate
        _real(initial_learning_rate, "initial_learning_rate")
        self.decay_steps = _decay_steps(decay_steps)
        self.name = _str(name, "name")


class _StepRatioDecay(_Decay):
    """ExponentialDecay's and InverseTimeDecay's arguments, and their
    exponent p = step / decay_steps (floored with staircase)."""

    def __init__(self, initial_learning_rate: float, decay_steps: float, decay_rate: float,
                 staircase: bool, name: str) -> None:
        super().__init__(initial_learning_rate, decay_steps, name)
        self.decay_rate = decay_rate
        _real(decay_rate, "decay_rate")
        self.staircase = _bool(staircase, "staircase")

    def _p(self, step: Any) -> float:
        p = _step(step) / float(self.decay_steps)
        return math.floor(p) if self.staircase else p

    def get_config(self) -> Dict[str, Any]:
        return {"initial_learning_rate": self.initial_learning_rate,
                "decay_steps": self.decay_steps, "decay_rate": self.decay_rate,
                "staircase": self.staircase, "name": self.name}


class ExponentialDecay(_StepRatioDecay):
    """initial_learning_rate * decay_rate ** (step / decay_steps); with
    staircase the exponent is floored (the rate drops every decay_steps)."""

    def __init__(self, initial_learning_rate: float, decay_steps: float, decay_rate: float,
                 staircase: bool = False, name: str = "ExponentialDecay") -> None:
        super().__init__(initial_learning_rate, decay_steps, decay_rate, staircase, name)

    def __call__(self, step: Any) -> float:
        return float(self.initial_learning_rate) * float(self.decay_rate) ** self._p(step)


class PiecewiseConstantDecay(LearningRateSchedule):
    """values[0] while step <= boundaries[0], values[i] while
    boundaries[i-1] < step <= boundaries[i], values[-1] after the last."""

    def __init__(self, boundaries: Sequence[float], values: Sequence[float],
                 name: str = "PiecewiseConstant") -> None:
        for arg, seq in (("boundaries", boundaries), ("values", values)):
            if isinstance(seq, (str, bytes)) or not hasattr(seq, "__len__"):
                raise TypeError(f"{arg} must be a list of numbers, got {type(seq).__name__}")
            for i, v in enumerate(seq):
                _real(v, f"{arg}[{i}]")
        if len(boundaries) != len(values) - 1:
            raise ValueError(f"The length of boundaries should be 1 less than the length of "
                             f"values. Received: boundaries={list(boundaries)} of length "
                             f"{len(boundaries)}, and values={list(values)} of length "
                             f"{len(values)}.")
        if any(b > a for a, b in zip(boundaries[1:], boundaries[:-1])):
            raise ValueError(f"boundaries must be non-decreasing, got {list(boundaries)}")
        self.boundaries: List[float] = list(boundaries)
        self.values: List[float] = list(values)
        self.name = _str(name, "name")

    def __call__(self, step: Any) -> float:
        s = _step(step)
        for boundary, value in zip(self.boundaries, self.values):
            if s <= boundary:
                return float(value)
        return float(self.values[-1])

    def get_config(self) -> Dict[str, Any]:
        return {"boundaries": self.boundaries, "values": self.values, "name": self.name}


class PolynomialDecay(_Decay):
    """(initial - end) * (1 - step / decay_steps) ** power + end, with step
    capped at decay_steps; with cycle, decay_steps is instead multiplied by
    ceil(step / decay_steps) (1 at step 0), restarting the decay."""

    def __init__(self, initial_learning_rate: float, decay_steps: float,
                 end_learning_rate: float = 0.0001, power: float = 1.0, cycle: bool = False,
                 name: str = "PolynomialDecay") -> None:
        super().__init__(initial_learning_rate, decay_steps, name)
        self.end_learning_rate = end_learning_rate
        _real(end_learning_rate, "end_learning_rate")
        self.power = power
        _real(power, "power")
        self.cycle = _bool(cycle, "cycle")

    def __call__(self, step: Any) -> float:
        s = _step(step)
        decay_steps = float(self.decay_steps)
        if self.cycle:
            decay_steps *= 1.0 if s == 0 else math.ceil(s / decay_steps)
        else:
            s = min(s, decay_steps)
        initial, end = float(self.initial_learning_rate), float(self.end_learning_rate)
        return (initial - end) * (1.0 - s / decay_steps) ** float(self.power) + end

    def get_config(self) -> Dict[str, Any]:
        return {"initial_learning_rate": self.initial_learning_rate,
                "decay_steps": self.decay_steps, "end_learning_rate": self.end_learning_rate,
                "power": self.power, "cycle": self.cycle, "name": self.name}


class InverseTimeDecay(_StepRatioDecay):
    """initial_learning_rate / (1 + decay_rate * step / decay_steps); with
    staircase the ratio step / decay_steps is floored."""

    def __init__(self, initial_learning_rate: float, decay_steps: float, decay_rate: float,
                 staircase: bool = False, name: str = "InverseTimeDecay") -> None:
        super().__init__(initial_learning_rate, decay_steps, decay_rate, staircase, name)

    def __call__(self, step: Any) -> float:
        return float(self.initial_learning_rate) / (1.0 + float(self.decay_rate) * self._p(step))


class CosineDecay(_Decay):
    """Cosine decay (Loshchilov & Hutter's SGDR without restarts), with an
    optional linear warm-up.

    Without warmup_target: lr(step) = initial * ((1 - alpha) * c + alpha),
    c = 0.5 * (1 + cos(pi * min(step, decay_steps) / decay_steps)).
    With warmup_target: for step < warmup_steps the rate goes linearly from
    initial_learning_rate to warmup_target; then it decays from warmup_target
    as above over the next decay_steps steps (step capped at
    decay_steps + warmup_steps)."""

    def __init__(self, initial_learning_rate: float, decay_steps: float, alpha: float = 0.0,
                 name: str = "CosineDecay", warmup_target: Any = None,
                 warmup_steps: float = 0) -> None:
        super().__init__(initial_learning_rate, decay_steps, name)
        self.alpha = alpha
        _real(alpha, "alpha")
        self.warmup_steps = warmup_steps
        if _real(warmup_steps, "warmup_steps") < 0:
            raise ValueError(f"warmup_steps must be >= 0, got {warmup_steps}")
        self.warmup_target = warmup_target
        if warmup_target is not None:
            _real(warmup_target, "warmup_target")

    def _decay(self, step: float, decay_from: float) -> float:
        cosine = 0.5 * (1.0 + math.cos(math.pi * (step / float(self.decay_steps))))
        alpha = float(self.alpha)
        return decay_from * ((1.0 - alpha) * cosine + alpha)

    def __call__(self, step: Any) -> float:
        s = _step(step)
        initial, decay_steps = float(self.initial_learning_rate), float(self.decay_steps)
        if self.warmup_target is None:
            return self._decay(min(s, decay_steps), initial)
        warmup_steps, target = float(self.warmup_steps), float(self.warmup_target)
        s = min(s, decay_steps + warmup_steps)
        if s < warmup_steps:
            return (target - initial) * (s / warmup_steps) + initial
        return self._decay(s - warmup_steps, target)

    def get_config(self) -> Dict[str, Any]:
        return {"initial_learning_rate": self.initial_learning_rate,
                "decay_steps": self.decay_steps, "alpha": self.alpha, "name": self.name,
                "warmup_target": self.warmup_target, "warmup_steps": self.warmup_steps}


_SCHEDULES: Dict[str, Type[LearningRateSchedule]] = {
    cls.__name__: cls for cls in (ExponentialDecay, PiecewiseConstantDecay, PolynomialDecay,
                                  InverseTimeDecay, CosineDecay)}


def serialize(schedule: LearningRateSchedule) -> Dict[str, Any]:
    """{"class_name": ..., "config": schedule.get_config()}."""
    return _serialization.serialize(schedule, LearningRateSchedule, "schedule")


def deserialize(config: Dict[str, Any]) -> LearningRateSchedule:
    """The schedule of a serialize() dict (or of Keras's serialized form)."""
    schedule: LearningRateSchedule = _serialization.deserialize(config, _SCHEDULES,
                                                                "learning rate schedule")
    return schedule
