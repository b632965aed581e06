"""What the monitoring callbacks share: the direction of a monitored value
(mode="auto") and their argument checks."""
from __future__ import annotations

import math
import numbers
from typing import Any


def _mode_op(mode: str, monitor: str) -> str:
    if mode not in ("auto", "min", "max"):
        raise ValueError(f"mode must be 'auto', 'min' or 'max', got {mode!r}")
    if mode == "auto":
        mode = "max" if ("acc" in monitor or monitor.endswith("auc")) else "min"
    return mode


def _metric_direction(monitor: str) -> str:
    """'min' or 'max' for mode='auto': the loss is minimised; a metric ccnn
    knows goes the way its class says (Keras reads the compiled metric)."""
    from .. import metrics as metrics_mod
    name = monitor[4:] if monitor.startswith("val_") else monitor
    if name == "loss":
        return "min"
    if name.lower() in ("accuracy", "acc"):
        return "max"
    metric = metrics_mod.ALL_OBJECTS_DICT.get(name)
    if metric is None:
        raise ValueError(f"ReduceLROnPlateau callback received monitor={monitor}, but ccnn "
                         f"isn't able to automatically determine whether that metric should "
                         f"be maximized or minimized. Pass `mode='max'` in order to monitor "
                         f"based on the highest metric value, or pass `mode='min'` in order "
                         f"to use the lowest value.")
    return "max" if metric._direction == "up" else "min"


def _nonneg_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise ValueError(f"{name} must be an int >= 0, got {value!r}")
    return int(value)


def _number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) \
            or not math.isfinite(float(value)):
        raise TypeError(f"{name} must be a finite number, got {type(value).__name__} {value!r}")
    return float(value)
