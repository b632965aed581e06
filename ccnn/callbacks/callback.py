"""Callback, the base class of every callback, and CallbackList, which calls
each hook on every callback in order (internal to fit, evaluate and predict)."""
from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional


class Callback:
    """Base class; override any of the on_* hooks.  `self.model` is the model
    being trained, `self.params` a dict (epochs, steps, verbose, ...)."""

    def __init__(self) -> None:
        self.model: Any = None  # the Sequential being trained
        self.params: Dict[str, Any] = {}

    def set_model(self, model: Any) -> None:
        self.model = model

    def set_params(self, params: Dict[str, Any]) -> None:
        self.params = dict(params)

    def on_train_begin(self, logs: Optional[Dict[str, Any]] = None) -> None: pass
    def on_train_end(self, logs: Optional[Dict[str, Any]] = None) -> None: pass
    def on_epoch_begin(self, epoch: int, logs: Optional[Dict[str, Any]] = None) -> None: pass
    def on_epoch_end(self, epoch: int, logs: Optional[Dict[str, Any]] = None) -> None: pass
    def on_train_batch_begin(self, batch: int, logs: Optional[Dict[str, Any]] = None) -> None: pass
    def on_train_batch_end(self, batch: int, logs: Optional[Dict[str, Any]] = None) -> None: pass
    def on_test_begin(self, logs: Optional[Dict[str, Any]] = None) -> None: pass
    def on_test_end(self, logs: Optional[Dict[str, Any]] = None) -> None: pass
    def on_test_batch_begin(self, batch: int, logs: Optional[Dict[str, Any]] = None) -> None: pass
    def on_test_batch_end(self, batch: int, logs: Optional[Dict[str, Any]] = None) -> None: pass
    def on_predict_begin(self, logs: Optional[Dict[str, Any]] = None) -> None: pass
    def on_predict_end(self, logs: Optional[Dict[str, Any]] = None) -> None: pass
    def on_predict_batch_begin(self, batch: int, logs: Optional[Dict[str, Any]] = None) -> None: pass
    def on_predict_batch_end(self, batch: int, logs: Optional[Dict[str, Any]] = None) -> None: pass


class CallbackList:
    """Calls each hook on every callback, in order (internal to fit, evaluate
    and predict): `cbl.on_epoch_end(epoch, logs)`, the logs always last."""

    def __init__(self, callbacks: List[Callback], model: Any, params: Dict[str, Any]) -> None:
        self.callbacks = callbacks
        for cb in callbacks:
            cb.set_model(model)
            cb.set_params(params)

    def __getattr__(self, hook: str) -> Callable[..., None]:
        if not hook.startswith("on_"):
            raise AttributeError(hook)

        base = getattr(Callback, hook, None)
        callbacks = self.callbacks

        def call(*args: Any) -> None:
            *index, logs = args                # every hook is given its logs dict,
            for cb in callbacks:               # by keyword as Keras's CallbackList does
                method = getattr(cb, hook)
                # Callback's own hooks do nothing: skip the call (fit's hot loop)
                if getattr(method, "__func__", None) is not base or base is None:
                    method(*index, logs=logs)
        return call
