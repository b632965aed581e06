"""The training loop of ccnn's models (Keras 3's Trainer): compile, fit,
evaluate, predict, train_on_batch, compute_gradients.

One training step: forward through every step of the model's execution plan
(training=True), the head's loss and its gradient, backward through every
step in reverse, optimizer.apply_gradients.  The plan (ccnn.models.fusion) is
the user's layers with the fusions put in: when the last layer is
Dense(activation='softmax') or Softmax, the softmax and the cross-entropy are
computed together from the logits in C (log-sum-exp, stable for any logits)
and the gradient (probs - targets) / N goes straight into that layer's
linear part; Dense(activation='sigmoid') with the binary cross-entropy the
same way.  Other losses give the gradient of their output (Loss.gradient),
scaled here for the loss's reduction and the sample weights.

One class of about 650 lines on purpose, as Keras 3's Trainer is one class:
compile, the metrics, the loop and the batch methods share the model's state;
what can stand alone is elsewhere (data_adapters: arrays, PyDatasets and
generators as batches; fusion: the plan; saving: the files).
"""
from __future__ import annotations

import functools
import math
import numbers
from typing import (TYPE_CHECKING, Any, Callable, Dict, Iterator, List, Optional, Sequence,
                    Tuple, TypeVar, Union, cast)

import numpy as np

from .. import distribution as distribution_mod
from .. import losses as losses_mod
from .. import metrics as metrics_mod
from ..metrics.metric import log_value
from .. import optimizers as optimizers_mod
from .._blas import single_threaded_blas
from .. import _loss
from .._interrupt import keyboard_interrupt_guard
from .._warnings import warn as _warn
from ..callbacks import Callback, CallbackList, History, ProgbarLogger
from ..callbacks.progbar_logger import _fmt_logs
from ..layers import Layer
from ..layers.fused import _LossFromLogits
from . import data_adapters, inference, train_plan
from .fusion import Plan, make_plan
from .nested import ModelLayer, trainable_pairs, uses_regularization

# The accuracies the training loop counts from the argmax it already has
# (the book model's fast path): same values as their update_state.
_ARGMAX_ACCURACIES = (metrics_mod.CategoricalAccuracy, metrics_mod.SparseCategoricalAccuracy)
_SPARSE_TRUE_CLASSES = losses_mod.SparseCategoricalCrossentropy.true_classes

_Method = TypeVar("_Method", bound=Callable[..., Any])


def _one_blas_thread(method: _Method) -> _Method:
    """Run `method` with NumPy's BLAS on one thread (see ccnn._blas): the
    OpenMP kernels and a second spinning thread pool would fight for the cores."""
    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with single_threaded_blas():
            return method(*args, **kwargs)
    return cast(_Method, wrapper)


def _interrupt_guarded(method: _Method) -> _Method:
    """Run `method` inside keyboard_interrupt_guard(): one SIGINT handler for
    the whole loop instead of a swap per optimizer step (ccnn._interrupt)."""
    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with keyboard_interrupt_guard():
            return method(*args, **kwargs)
    return cast(_Method, wrapper)


def _positive_int(v: Any, name: str, minimum: int = 1) -> int:
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Integral) or v < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {v!r}")
    return int(v)


def _steps_per_execution(v: Any) -> int:
    """compile()'s steps_per_execution, checked: an int >= 1."""
    if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1:
        raise ValueError(f"steps_per_execution must be an int >= 1, got {v!r}")
    return int(v)


def _regularized(layers: Sequence[Layer]) -> List[Layer]:
    """The layers whose regularization_loss / add_regularization_grads can
    do anything: those with weight regularizers, or overriding the methods
    (the others add exactly 0 and change no gradient)."""
    return [layer for layer in layers if (
        uses_regularization(layer) if isinstance(layer, ModelLayer)
        else layer.__dict__.get("regularizers")
        or type(layer).regularization_loss is not Layer.regularization_loss
        or type(layer).add_regularization_grads is not Layer.add_regularization_grads)]


def _check_callbacks(callbacks: Any) -> None:
    if callbacks is not None and (not isinstance(callbacks, (list, tuple)) or
                                  not all(isinstance(c, Callback) for c in callbacks)):
        raise TypeError("callbacks must be a list of ccnn.callbacks.Callback instances")


def _real_array(value: Any, name: str) -> np.ndarray:
    """np.asarray(value); TypeError naming `name` unless it holds real numbers."""
    try:
        a = np.asarray(value)
    except ValueError as e:
        raise TypeError(f"{name} must be an array of numbers ({e})") from None
    if a.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be an array of real numbers, got dtype {a.dtype}")
    return a


def _optional_steps(v: Any, name: str) -> Optional[int]:
    """A steps argument: None or 0 (Keras's `steps or <all batches>`) is None."""
    if v is None or (isinstance(v, numbers.Integral) and not isinstance(v, bool) and v == 0):
        return None
    return _positive_int(v, name)


def _verbose(verbose: Any) -> int:
    """fit / evaluate / predict's verbose as 0, 1 or 2 ('auto' is 1, as in Keras 3)."""
    if isinstance(verbose, str) and verbose == "auto":
        return 1
    if isinstance(verbose, str) or verbose not in (0, 1, 2):      # True / False: 1 / 0
        raise ValueError(f"verbose must be 0, 1, 2 or 'auto', got {verbose!r}")
    return int(verbose)


def _execution_options(run_eagerly: Any, jit_compile: Any,
                       auto_scale_loss: Any) -> Tuple[bool, bool]:
    """compile()'s (run_eagerly, jit_compile) as Keras 3 means them on ccnn:
    run_eagerly=True runs every training, evaluation and prediction step
    layer by layer in Python (ccnn's eager path: no training or inference
    plan; for debugging, as in Keras); jit_compile 'auto' or False is ccnn's
    only mode (its steps are C already) and True is a ValueError (ccnn has
    no JIT compiler such as XLA); auto_scale_loss (a bool) scales the loss
    only under a mixed_float16 dtype policy in Keras, which ccnn does not
    have, so it changes nothing -- as in Keras under float32."""
    for name, value in (("run_eagerly", run_eagerly), ("auto_scale_loss", auto_scale_loss)):
        if not isinstance(value, (bool, np.bool_)):
            raise TypeError(f"{name} must be True or False, got {value!r}")
    if jit_compile is True or (isinstance(jit_compile, np.bool_) and jit_compile):
        raise ValueError("jit_compile=True: ccnn has no JIT compiler (XLA, torch.compile); its "
                         "steps run as compiled C already. Pass jit_compile=False or 'auto'")
    if not (jit_compile is False or (isinstance(jit_compile, np.bool_) and not jit_compile)
            or (isinstance(jit_compile, str) and jit_compile == "auto")):
        raise ValueError(f"jit_compile must be 'auto', True or False, got {jit_compile!r}")
    return bool(run_eagerly), False


def _metric_list(value: Any, what: str) -> List[Any]:
    """compile()'s metrics / weighted_metrics (None or a list) as a list."""
    if value is None:
        return []
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        raise TypeError(f"{what} must be a list such as ['accuracy'], got {value!r}")
    return list(value)


def metric_log_names(entries: Sequence[Tuple[Optional[str], str, bool]]) -> List[str]:
    """The log name of each compiled metric, given (output name or None,
    metric name, weighted) with the unweighted ones first, as Keras 3's
    CompileMetrics.result names them: "<output>_<name>"; a second metric of
    the same name gets "_1", "_2", ...; a weighted one whose name is taken
    becomes "weighted_<name>" (then "_1", ...)."""
    counters: Dict[str, int] = {}
    out = []
    for output, name, weighted in entries:
        full = f"{output}_{name}" if output else name
        if full not in counters:
            counters[full] = 1
        elif not weighted:
            counters[full] += 1
            full = f"{full}_{counters[full] - 1}"
        else:
            full = f"{output}_weighted_{name}" if output else f"weighted_{name}"
            if full not in counters:
                counters[full] = 1
            else:
                counters[full] += 1
                full = f"{full}_{counters[full] - 1}"
        out.append(full)
    return out


def is_symbolic_arg(x: Any) -> bool:
    """x is a symbolic tensor (ccnn.Input's), or a list / tuple / dict holding
    one: a model called on it is a layer of another model (ccnn.models.nested)."""
    from ..layers.core.input_layer import KerasTensor
    return isinstance(x, KerasTensor) or (isinstance(x, (list, tuple, dict)) and any(
        isinstance(t, KerasTensor) for t in (x.values() if isinstance(x, dict) else x)))


def _is_batches(x: Any) -> bool:
    """x is a PyDataset or a generator (fit / evaluate take batches from it)."""
    return data_adapters.is_dataset(x) or data_adapters.is_generator(x)


Adapter = Union[data_adapters.ArrayAdapter, data_adapters.StepsAdapter,
                data_adapters.DatasetAdapter, data_adapters.GeneratorAdapter]


#: fit's / evaluate's error after compile() without a loss (Keras 3's words)
NO_LOSS = "No loss to compute. Provide a `loss` argument in `compile()`."


def check_loss_weights_kind(loss_weights: Any) -> None:
    """Keras 3's check of compile's loss_weights: a float, a list, a tuple
    or a dict (an int or a string is a ValueError)."""
    if loss_weights and not isinstance(loss_weights, (list, tuple, dict, float)):
        raise ValueError(f"Expected `loss_weights` argument to be a float (single output "
                         f"case) or a list, tuple, or dict (multiple output case). Received "
                         f"instead: loss_weights={loss_weights} of type {type(loss_weights)}")


def resolving_loss(loss: Optional[losses_mod.Loss]) -> losses_mod.Loss:
    """The loss 'accuracy' is resolved with: the model's; after compile()
    without a loss (fit and evaluate raise) a categorical one, so that the
    metric names are known."""
    return losses_mod.CategoricalCrossentropy() if loss is None else loss


def single_loss_weight(loss_weights: Any, output_name: Any) -> float:
    """compile's loss_weights for a model of one output, as Keras 3 takes
    it: None (1.0), a float, a list / tuple of one, or a dict keyed by the
    output's name."""
    if not isinstance(loss_weights, (list, tuple, dict)) and not loss_weights:
        # a falsy value that is not a container: a zero weights the loss by
        # zero; anything else (None, False, '') leaves it unweighted
        is_number = isinstance(loss_weights, numbers.Real) and not isinstance(loss_weights, bool)
        return float(loss_weights) if is_number else 1.0
    check_loss_weights_kind(loss_weights)
    w: Any = loss_weights
    if isinstance(w, dict):
        if list(w) != [output_name]:
            raise ValueError(f"Expected keys {[output_name]} in loss_weights dict, but found "
                             f"loss_weights.keys()={list(w)}")
        w = w[output_name]
    elif isinstance(w, (list, tuple)):
        if len(w) != 1:
            raise ValueError(f"`loss_weights` must match the number of losses, got 1 losses "
                             f"and {len(w)} weights.")
        w = w[0]
    return finite_loss_weight(w)


def finite_loss_weight(w: Any) -> float:
    """One output's loss weight as a float; a TypeError unless it is a
    finite real number (not a bool)."""
    if isinstance(w, bool) or not isinstance(w, numbers.Real) or not math.isfinite(w):
        raise TypeError(f"loss_weights must be finite numbers, got {w!r}")
    return float(w)


def _shape_matches(shape: Tuple[Optional[int], ...],
                   want: Tuple[Optional[int], ...]) -> bool:
    if len(shape) != len(want):
        return False
    for d, w in zip(shape, want):
        if w is not None and w != d:
            return False
    return True


def fit_input(x: np.ndarray, want: Tuple[Optional[int], ...], dtype: np.dtype,
              name: str) -> np.ndarray:
    """x (a real array) checked against the input shape `want` (batch axis
    first) and cast to `dtype`; (N, H, W) images get their channel axis."""
    if x.ndim < 2:
        raise ValueError(f"{name} must have a batch axis and at least one feature axis, "
                         f"got shape {x.shape}")
    if x.ndim == len(want) - 1 and len(want) == 4:
        if want[-1] == 1 and _shape_matches(x.shape[1:], want[1:-1]):
            x = x[..., np.newaxis]
        elif want[1] == 1 and _shape_matches(x.shape[1:], want[2:]):
            x = x[:, np.newaxis]
    if not _shape_matches(x.shape[1:], want[1:]):
        raise ValueError(f"Input {name} is incompatible with the model: expected shape "
                         f"{want}, got {x.shape}")
    if x.shape[0] == 0:
        raise ValueError(f"{name} has no samples (shape {x.shape})")
    return x.astype(dtype, copy=False)


class Trainer(ModelLayer):
    """compile / fit / evaluate / predict over a model's execution plan.
    The model (Sequential) supplies layers, build() and the attributes below."""

    layers: List[Layer]
    built: bool
    input_shape: Optional[Tuple[Optional[int], ...]]
    optimizer: Optional[optimizers_mod.Optimizer]
    loss: Optional[losses_mod.Loss]
    metrics: List[str]
    compiled: bool
    steps_per_execution: int
    stop_training: bool
    history: Optional[History]
    _plan: Optional[Plan] = None
    #: compile's loss_weights for the model's one output (a functional
    #: model keeps one per output in _loss_weights)
    _loss_weight: float = 1.0
    _metric_ids: List[Any]
    _weighted_metric_ids: List[Any]
    _metric_objs: Optional[List[Any]] = None     # Metrics (a functional Model: tuples)
    #: parallel to _metric_objs: the log name of each, and whether it is weighted
    _metric_log_names: List[str]
    _metric_weighted: List[bool]

    if TYPE_CHECKING:
        def build(self, input_shape: Sequence[Optional[int]]) -> None: ...

    def _init_training_state(self) -> None:
        """What compile() and fit() set, as it is before compile (the models'
        __init__ call this)."""
        self.optimizer = None
        self.loss = None
        self.metrics = []
        self.compiled = False
        self.stop_training = False
        self.history = None
        self.steps_per_execution = 1
        #: Keras's: True runs every step layer by layer in Python (no plan)
        self.run_eagerly = False
        self.jit_compile = False

    # ------------------------------------------------------------ compile
    def compile(self, optimizer: Any = "rmsprop", loss: Any = None,
                metrics: Optional[Sequence[Any]] = None, loss_weights: Any = None, *,
                weighted_metrics: Optional[Sequence[Any]] = None,
                run_eagerly: bool = False, steps_per_execution: int = 1,
                jit_compile: Any = "auto", auto_scale_loss: bool = True) -> None:
        """optimizer: a Keras name ('adam', 'sgd', 'rmsprop', 'adamw', ...) or a
        ccnn.optimizers instance (Keras 3's default: 'rmsprop'); loss: a
        Keras name such as 'categorical_crossentropy' (one-hot targets),
        'sparse_categorical_crossentropy' (integer labels),
        'binary_crossentropy', 'mse', 'mae', 'huber', 'kld', 'hinge',
        'categorical_hinge', or a ccnn.losses.Loss (whose reduction must
        give one number: not 'none' / None); metrics: a list of
        anything ccnn.metrics knows (names, Metric objects or classes,
        functions); 'accuracy' / 'acc' is resolved from the loss and the
        output as Keras 3 does (ccnn.metrics.get_metric).  As in Keras 3,
        `metrics` are unweighted and `weighted_metrics` (the same kinds) are
        weighted by fit's / evaluate's sample_weight or class_weight; a
        weighted metric whose name is taken is logged as 'weighted_<name>'.
        steps_per_execution: fit runs this many batches per execution (an int
        >= 1), calling on_train_batch_begin / _end once per execution with
        its first and last step, as Keras 3; where the training plan can,
        the execution's steps run in one C call (README "Training").
        run_eagerly, jit_compile, auto_scale_loss: Keras's (see
        _execution_options).  loss_weights: as Keras's for one output, a
        float (or a list / tuple of one, or a dict keyed by the output's
        name) that scales the loss and its gradient.  As Keras 3, compile()
        without a loss is allowed: predict runs, fit / evaluate /
        train_on_batch / test_on_batch raise a ValueError."""
        spe = _steps_per_execution(steps_per_execution)
        eager, jit = _execution_options(run_eagerly, jit_compile, auto_scale_loss)
        weight = single_loss_weight(loss_weights, self.layers[-1].name if self.layers else None)
        self.optimizer = optimizers_mod.get(optimizer)
        lossfn = None if loss is None else losses_mod.get(loss)
        if lossfn is not None and lossfn.reduction in (None, "none"):
            raise ValueError(f"loss reduction={lossfn.reduction!r} gives one loss per sample; "
                             f"a model trains on one number: use 'sum_over_batch_size' "
                             f"(the default), 'sum', 'mean' or 'mean_with_sample_weight'")
        self.loss = lossfn
        self._loss_weight = weight
        self._metric_ids = _metric_list(metrics, "metrics")
        self._weighted_metric_ids = _metric_list(weighted_metrics, "weighted_metrics")
        self._metric_objs = None
        self._compiled_metrics((None, 2))                         # checks every id
        self.metrics = list(self._metric_log_names)
        self._metric_objs = None     # resolved again for the model's output at first use
        self.steps_per_execution = spe
        self.run_eagerly, self.jit_compile = eager, jit
        self.compiled = True
        self._replan()

    def get_compile_config(self) -> Optional[Dict[str, Any]]:
        """compile()'s arguments as plain data, as Keras's: {"optimizer",
        "loss", "metrics", "loss_weights", "weighted_metrics",
        "steps_per_execution"} (the optimizer,
        loss and Metric objects as {"class_name", "config"}); None before compile."""
        from ..saving.serialization_lib import serialize_compile_config
        return serialize_compile_config(self)

    def compile_from_config(self, config: Dict[str, Any]) -> None:
        """compile() with get_compile_config()'s arguments (a new optimizer)."""
        import inspect

        from ..saving.serialization_lib import compile_args_from_config
        args = compile_args_from_config(config)
        if "loss_weights" in args and "loss_weights" not in inspect.signature(
                self.compile).parameters:
            raise ValueError(f"compile config: a {type(self).__name__} takes no loss_weights; "
                             f"got loss_weights={args['loss_weights']!r}")
        self.compile(**args)

    # ------------------------------------------------------------ whole-model files
    def save(self, filepath: Any, overwrite: bool = True) -> None:
        """Write the whole model to `filepath` (ccnn.saving.save_model): the
        architecture, the weights, the compile() arguments and the optimizer's
        state, atomically.  "m.ccnn" (any path not ending in .keras) is ccnn's
        own NumPy-only format; "m.keras" Keras 3's (needs ccnn[keras-files]).
        ccnn.models.load_model reads both."""
        from ..saving import save_model
        save_model(self, filepath, overwrite=overwrite)

    def to_json(self, **kwargs: Any) -> str:
        """The architecture as a JSON string ({"class_name", "config",
        "build_config"}, as Keras's); ccnn.models.model_from_json rebuilds it.
        kwargs go to json.dumps."""
        import json

        from ..saving.serialization_lib import serialize_model, to_jsonable
        return json.dumps(serialize_model(self), default=to_jsonable, **kwargs)

    def _compiled_metrics(self, out_shape: Optional[Tuple[Optional[int], ...]] = None
                          ) -> List[metrics_mod.Metric]:
        """The metric objects of compile(metrics=..., weighted_metrics=...),
        resolved for the model's output: the unweighted ones, then the
        weighted (self._metric_weighted), logged as self._metric_log_names."""
        if out_shape is None:
            objs = getattr(self, "_metric_objs", None)
            if objs is not None and len(self.__dict__.get("_metric_log_names", ())) == len(objs):
                return objs
            out_shape = (None, self._classes())
        ids = getattr(self, "_metric_ids", self.metrics)   # pickles from before 0.x kept names
        wids = getattr(self, "_weighted_metric_ids", [])
        objs = [metrics_mod.get_metric(m, out_shape, loss=resolving_loss(self.loss))
                for m in ids + wids]
        weighted = [False] * len(ids) + [True] * len(wids)
        names = metric_log_names([(None, m.name, w) for m, w in zip(objs, weighted)])
        for m, ident, name in zip(objs, ids + wids, names):
            if m is not ident:      # an object made here: named as it is logged
                m.name = name
        self._metric_objs = objs
        self._metric_log_names = names
        self._metric_weighted = weighted
        return objs

    def _reset_metrics(self) -> List[metrics_mod.Metric]:
        objs = self._compiled_metrics()
        for m in objs:
            m.reset_state()
        return objs

    def _update_metrics(self, objs: List[metrics_mod.Metric], out: np.ndarray,
                        y: np.ndarray, sw: Optional[np.ndarray] = None) -> None:
        """Each metric's update_state with the batch, the weighted metrics'
        with the sample weights sw; without weights the (sparse) categorical
        accuracy counts the argmax matches directly (the same sums)."""
        correct = None
        weighted = self.__dict__.get("_metric_weighted", [])
        for i, m in enumerate(objs):
            if sw is not None and i < len(weighted) and weighted[i]:
                m.update_state(y, out, sample_weight=sw)
            elif type(m) in _ARGMAX_ACCURACIES:
                if correct is None:
                    correct = self._correct(out, y)
                acc = cast(metrics_mod.Mean, m)
                acc.total += correct
                acc.count += out.shape[0]
            else:
                m.update_state(y, out)

    def _metric_logs(self, logs: Dict[str, Any], objs: List[metrics_mod.Metric],
                     prefix: str = "") -> Dict[str, Any]:
        names = self.__dict__.get("_metric_log_names")
        if names is None or len(names) != len(objs):
            names = [m.name for m in objs]
        for name, m in zip(names, objs):
            logs[prefix + name] = log_value(m.result())
        return logs

    def _require_compiled(self) -> None:
        if not self.compiled:
            raise RuntimeError("You must compile your model before training/testing. Use "
                               "`model.compile(optimizer, loss)`.")
        pending = self.__dict__.get("_pending_compile")     # a subclassed model's, untraced
        if self.loss is None and (pending is None or pending[1] is None) \
                and not self._regularization_only():
            raise ValueError(NO_LOSS)

    def _regularization_only(self) -> bool:
        """compile() without a loss, and the model has regularization losses
        (a weight or an activity regularizer): as Keras 3, fit minimises them
        alone and they are the logged loss; y may be left out."""
        return self.loss is None and self.built and uses_regularization(self)

    @property
    def metrics_names(self) -> List[str]:
        return ["loss"] + self.metrics

    # ------------------------------------------------------------ data checks
    def _dtype(self) -> np.dtype:
        return np.dtype(self.layers[0].dtype)

    def _prepare_x(self, x: Any, name: str = "x") -> np.ndarray:
        """x as a float array of the model's input shape.  (N, H, W) images get
        their channel axis; integers (e.g. uint8 pixels) are converted, not scaled."""
        if not self.layers:
            raise ValueError("the model has no layers; add some first")
        if x is None:
            raise ValueError(f"{name} is required")
        x = _real_array(x, name)
        if x.ndim < 2:
            raise ValueError(f"{name} must have a batch axis and at least one feature axis, "
                             f"got shape {x.shape}")
        if not self.built:
            shape = x.shape[1:]
            first = self.layers[0]
            if len(shape) == 2 and first.input_ndim == 4:      # images without channels
                fmt = getattr(first, "data_format", "channels_last")
                shape = shape + (1,) if fmt == "channels_last" else (1,) + shape
            self.build((None,) + tuple(shape))
        want = self.input_shape
        assert want is not None
        return fit_input(x, self._run_shape(x, want, name), self._dtype(), name)

    def _run_shape(self, x: np.ndarray, want: Tuple[Optional[int], ...], name: str
                   ) -> Tuple[Optional[int], ...]:
        """The input shape x is checked against: the built one (a
        Sequential takes any shape its layers take, see Sequential)."""
        return want

    def _classes(self) -> int:
        out = self.layers[-1].output_shape
        if out is None or out[-1] is None:
            raise ValueError("the model's output size is unknown; build it first")
        return int(out[-1])

    @property
    def _lossfn(self) -> losses_mod.Loss:
        if self.loss is None:
            self._require_compiled()
        assert self.loss is not None
        return self.loss

    def _prepare_y(self, y: Any, n: int, name: str = "y") -> np.ndarray:
        if self._regularization_only():     # no loss reads the targets
            return np.zeros((n, 0), self._dtype()) if y is None else \
                np.asarray(y, dtype=self._dtype())
        if y is None:
            raise ValueError(f"{name} is required: the compiled loss compares the model's "
                             f"outputs with these targets")
        y = self._lossfn.check(y, n, self._classes())
        if not self._lossfn.sparse:
            y = np.asarray(y, dtype=self._dtype())
        return y

    # ------------------------------------------------------------ the plan
    def _replan(self) -> None:
        """Run the fusion pass (at build and compile): the steps this model runs."""
        self._plan = make_plan(self.layers, self.loss) if self.built else None

    def _execution_plan(self) -> Plan:
        plan = self._plan
        if plan is None or plan.loss is not self.loss or plan.layers != tuple(self.layers):
            self._replan()       # the layers or the loss changed since build / compile
            plan = self._plan
            assert plan is not None
        return plan

    # ------------------------------------------------------------ one step
    def _forward(self, x: np.ndarray, training: bool) -> np.ndarray:
        #: (step, output) of the steps with an activity_regularizer, for the loss
        self._activity: List[Tuple[Any, np.ndarray]] = []
        for step in self._execution_plan().steps:
            x = step.forward(x, training)
            if getattr(step, "activity_regularizer", None) is not None:
                self._activity.append((step, x))
        return x

    def _regularization_loss(self) -> float:
        """Keras's layer losses: the weight regularizers' penalties, and each
        activity regularizer's penalty of the last forward's output divided
        by the batch size (ccnn.regularizers)."""
        total = sum(layer.regularization_loss() for layer in _regularized(self.layers))
        for step, out in self.__dict__.get("_activity", ()):
            total += step.activity_regularizer(out) / max(1, out.shape[0])
        return float(total)

    def _activity_grad(self, step: Any, d: np.ndarray) -> np.ndarray:
        """d plus the gradient of the step's activity penalty, if it has one."""
        for s, out in self.__dict__.get("_activity", ()):
            if s is step:
                return d + s.activity_regularizer.gradient(out) / max(1, out.shape[0])
        return d

    def _loss_and_backward(self, out: np.ndarray, y: np.ndarray,
                           sw: Optional[np.ndarray] = None) -> float:
        """Loss of the batch; fills every layer's grads."""
        plan = self._execution_plan()
        head = plan.head
        if head is None:        # no loss (_regularization_only): the penalties' alone
            loss, d = 0.0, np.zeros_like(out)
        else:
            # y is checked (_prepare_y, the adapters): the fused head need not check it again
            loss, d = self._reduced(out, y, *(head.loss_checked(out, y) if isinstance(
                head, _LossFromLogits) else head.loss(out, y)), sw)
        # the steps before the first one with weights (augmentation, rescaling)
        # need no backward, and the first with weights no input gradient
        steps = plan.steps
        k = next((i for i, s in enumerate(steps) if getattr(s, "params", True)), 0)
        first = steps[k]
        for step in reversed(steps[k + 1:]):
            d = step.backward(self._activity_grad(step, d))
        first.need_input_grad = False  # nothing consumes it: let the layer skip the work
        try:
            first.backward(self._activity_grad(first, d))
        finally:
            first.need_input_grad = True
        for layer in _regularized(self.layers):
            layer.add_regularization_grads()
        return loss + self._regularization_loss()

    def _batch_loss(self, out: np.ndarray, y: np.ndarray, sw: Optional[np.ndarray]) -> float:
        head = self._execution_plan().head
        if head is None:        # no loss (_regularization_only)
            return self._regularization_loss()
        # the loss alone (no gradient); with sample weights _reduced takes
        # the per-sample losses instead
        loss = head.loss_value(out, y) if sw is None else 0.0
        return self._reduced(out, y, loss, None, sw)[0] + self._regularization_loss()

    def _reduced(self, out: np.ndarray, y: np.ndarray, loss: float, d: Optional[np.ndarray],
                 sw: Optional[np.ndarray], head: Any = None,
                 lossfn: Optional[losses_mod.Loss] = None) -> Tuple[float, Any]:
        """Keras's reduction of the batch's loss (the loss's `reduction`, the
        sample weights) from the head's mean loss and its gradient d (or None):
        with weights sum(sample_weight * per-sample loss) / batch size, the
        per-sample losses from the logits when the head has them; 'sum'
        multiplies by the batch size, 'mean_with_sample_weight' divides by the
        sum of the weights instead.  (head, lossfn: an output's, in a model with
        several; by default the model's.)"""
        n = out.shape[0]
        reduction = (lossfn or self._lossfn).reduction
        scale = float(n) if reduction == "sum" else 1.0
        if lossfn is None:          # the model's own loss: its loss_weights
            scale *= self._loss_weight
        if sw is not None:
            head = head or self._execution_plan().head
            assert head is not None
            rows = head.rows(out, y).astype(np.float64)
            loss = float(np.sum(rows * sw) / n)
            if d is not None:
                d = d * sw.astype(d.dtype).reshape((-1,) + (1,) * (d.ndim - 1))
            if reduction == "mean_with_sample_weight":
                total = float(np.sum(sw))
                scale = n / total if total else 0.0
        if scale != 1.0:
            loss *= scale
            if d is not None:
                d = d * d.dtype.type(scale)
        return loss, d

    def _correct(self, out: np.ndarray, y: np.ndarray) -> int:
        lossfn = self._lossfn
        if type(lossfn).true_classes is _SPARSE_TRUE_CLASSES:   # the labels themselves
            hits = _loss.argmax_matches(out, y)     # one pass in C, no temporaries
            if hits >= 0:
                return hits
        return int(np.count_nonzero(out.argmax(axis=-1) == lossfn.true_classes(y)))

    @_one_blas_thread
    def compute_gradients(self, x: Any, y: Any, training: bool = True
                          ) -> Tuple[float, List[np.ndarray]]:
        """(loss, grads) for one batch without updating anything; grads are in
        the order of model.weights.  (The gradient checks use this.)"""
        self._require_compiled()
        x = self._prepare_x(x)
        y = self._prepare_y(y, x.shape[0])
        out = self._forward(x, training)
        loss = self._loss_and_backward(out, y)
        return loss, [layer.grads[k] for layer in self.layers for k in layer.params]

    def _train_step(self, x: np.ndarray, y: np.ndarray, objs: List[metrics_mod.Metric],
                    sw: Optional[np.ndarray] = None,
                    skip_nonfinite: bool = False) -> Tuple[float, bool]:
        """Forward, loss, backward, the metrics' update, then one optimizer
        update -- which Ctrl-C cannot cut in half (Optimizer.apply_gradients).
        Returns (loss, applied).  With skip_nonfinite a batch whose loss or
        gradients hold a NaN or an infinity updates nothing (applied False)."""
        # the compiled training plan (ccnn.models.train_plan) where the model has
        # one; without a distribution (whose reduce_gradients goes between the
        # backward and the update) the optimizer's update in the same call
        # (a DataParallel fit: its reducer, whose all-reduce the plan runs between
        # the backward and the update, writing the gradients into its buffer)
        dist = distribution_mod.current()
        reducer = None if dist is distribution_mod._LOCAL else dist.plan_reducer()
        done = None if sw is not None else train_plan.train_step(
            self, x, y, self.optimizer if dist is distribution_mod._LOCAL or reducer else None,
            skip_nonfinite, reducer)
        applied = None
        if done is not None:
            loss, out, applied = done
        else:
            out = self._forward(x, training=True)
            # the unweighted call is the one it always was (tests patch it)
            loss = (self._loss_and_backward(out, y) if sw is None
                    else self._loss_and_backward(out, y, sw))
        self._update_metrics(objs, out, y, sw)
        if applied or applied is False and reducer is not None:
            return loss, bool(applied)     # (with a reducer: the check on the global sums)
        return self._apply_step(loss, skip_nonfinite)

    def _apply_step(self, loss: float, skip_nonfinite: bool) -> Tuple[float, bool]:
        """_train_step's update from the layers' grads when the plan's call did
        not make it (applied False: its check refused it; decided here as always)."""
        dist = distribution_mod.current()
        pairs = trainable_pairs(self.layers)
        # distribution hook: the gradients and loss averaged over the ranks
        pairs, loss = dist.reduce_gradients(pairs, loss)
        if skip_nonfinite and not (math.isfinite(loss) and
                                   optimizers_mod.all_finite([g for g, _ in pairs])):
            return loss, False
        assert self.optimizer is not None
        self.optimizer.apply_gradients(pairs)
        return loss, True

    def _train_execution(self, batches: data_adapters.Steps, objs: List[metrics_mod.Metric],
                         skip_nonfinite: bool) -> List[Tuple[float, int, bool]]:
        """One execution of compile's steps_per_execution: each batch's
        _train_step, the batches of the first one's shape in one C call where
        the training plan can run them (train_plan.train_steps; after one step
        of their own when the optimizer has no state yet: its first update
        makes it); (loss, batch size, applied) per step run -- the steps stop
        after one that did not update."""
        done: List[Tuple[float, int, bool]] = []
        hits = bool(objs)
        if isinstance(batches, data_adapters.Execution):
            n, full = batches.batch_size, batches.full()
        else:
            shape = batches[0][0].shape
            n = shape[0]
            full = next((i for i, b in enumerate(batches) if b[0].shape != shape), len(batches))
        i = 0
        dist = distribution_mod.current()
        # a DataParallel fit: its reducer runs each step's all-reduce from inside
        # the call; its batches were all sharded ahead (select_step: the step's share)
        reducer = None if dist is distribution_mod._LOCAL else dist.plan_reducer()
        count = len(batches)
        if full > 1 and (dist is distribution_mod._LOCAL or reducer is not None) \
                and all(type(m) in _ARGMAX_ACCURACIES for m in objs):
            if not train_plan.opt_ready(self, self.optimizer):
                dist.select_step(0, count)
                done.append(self._batch_step(batches[0], objs, skip_nonfinite))
                i = 1
            res = None if full - i < 2 or (done and not done[0][2]) else train_plan.train_steps(
                self, batches.steps(i, full) if isinstance(batches, data_adapters.Execution)
                else batches[i:full], self.optimizer, skip_nonfinite, hits,
                None if reducer is None else (reducer, i, count))
            if res is not None:
                losses, counts, applied = res
                for j, loss in enumerate(losses):
                    if counts is not None:
                        for m in objs:
                            acc = cast(metrics_mod.Mean, m)
                            acc.total += int(counts[j])
                            acc.count += n
                    done.append((loss, n, True))
                i += len(losses)
                if not applied and reducer is not None:     # refused on the global sums
                    done[-1] = (losses[-1], n, False)
                elif not applied:   # its update, decided as _train_step does
                    done[-1] = (losses[-1], n) + (
                        self._apply_step(losses[-1], skip_nonfinite)[1],)
        while i < count and (not done or done[-1][2]):
            dist.select_step(i, count)
            done.append(self._batch_step(batches[i], objs, skip_nonfinite))
            i += 1
        return done

    def _batch_step(self, batch: data_adapters.Batch, objs: List[metrics_mod.Metric],
                    skip_nonfinite: bool) -> Tuple[float, int, bool]:
        """_train_step of one batch: (loss, batch size, applied)."""
        xb, yb, swb = batch
        loss, ok = self._train_step(xb, yb, objs, swb, skip_nonfinite=skip_nonfinite)
        return loss, xb.shape[0], ok

    @_one_blas_thread
    def train_on_batch(self, x: Any, y: Any = None, sample_weight: Any = None,
                       class_weight: Any = None, return_dict: bool = False):
        """One optimizer step on one batch; returns [loss, *metrics] of that
        batch (or the loss alone without metrics); with return_dict=True a
        dict {'loss': ..., name: ...}.  y is optional in the signature, as in
        Keras, but a compiled loss needs it (Keras fails on None as well)."""
        self._require_compiled()
        x, y, sw = self._prepare_xy(x, y, sample_weight, class_weight)
        objs = self._reset_metrics()
        loss, _ = self._train_step(x, y, objs, sw)
        logs = self._metric_logs({"loss": loss}, objs)
        if return_dict:
            return logs
        return list(logs.values()) if len(logs) > 1 else logs["loss"]

    # ------------------------------------------------------------ fit
    @_one_blas_thread
    @_interrupt_guarded
    def fit(self, x: Any = None, y: Any = None, batch_size: Optional[int] = 32,
            epochs: int = 1, verbose: Any = 1, callbacks: Optional[List[Callback]] = None,
            validation_split: float = 0.0, validation_data: Any = None,
            shuffle: bool = True, initial_epoch: int = 0,
            steps_per_epoch: Optional[int] = None, validation_steps: Optional[int] = None,
            validation_batch_size: Optional[int] = None,
            validation_freq: int = 1, class_weight: Any = None, sample_weight: Any = None,
            terminate_on_nan: bool = True) -> History:
        """Train for `epochs` passes over (x, y) in shuffled minibatches.

        validation_split takes the *last* fraction of the samples (before any
        shuffling), as Keras does.  steps_per_epoch of arrays: each epoch runs
        the next steps_per_epoch batches of a pass over them, as Keras 3's
        (data_adapters.StepsAdapter).  Each epoch's 'loss' / 'accuracy' is the
        mean over its batches weighted by batch size (training mode, before
        each batch's update); 'val_loss' / 'val_accuracy' are computed in
        inference mode at the end of the epoch, in batches of
        validation_batch_size samples (None: batch_size) when the validation
        data are arrays (validation_split or validation_data; a PyDataset or
        generator gives its own batches), the values evaluate(x_val, y_val,
        batch_size=validation_batch_size) returns.  Returns a History whose
        .history maps each name to its per-epoch list.

        terminate_on_nan (default True): a batch whose loss (or gradient) is
        NaN or infinite stops training, like Keras's TerminateOnNaN callback
        but before that batch's update -- the weights stay those of the last
        finite step.  A RuntimeWarning names the epoch and the step,
        model.stop_training is set, the epoch is recorded (its loss is NaN)
        and fit returns its History.  With terminate_on_nan=False training
        goes on regardless.

        Ctrl-C (KeyboardInterrupt) is re-raised, as in Keras, and leaves the
        weights and the optimizer's state as they were after the last
        completed step (an update is never half applied) and model.history
        holding every completed epoch."""
        self._require_compiled()
        batch_size = 32 if batch_size is None else _positive_int(batch_size, "batch_size")
        epochs = _positive_int(epochs, "epochs", 0)
        initial_epoch = _positive_int(initial_epoch, "initial_epoch", 0)
        verbose = _verbose(verbose)
        _check_callbacks(callbacks)
        steps_per_epoch = _optional_steps(steps_per_epoch, "steps_per_epoch")
        validation_steps = _optional_steps(validation_steps, "validation_steps")
        validation_freq = _positive_int(validation_freq, "validation_freq")
        val_batch_size = batch_size if validation_batch_size is None else _positive_int(
            validation_batch_size, "validation_batch_size")
        val: Optional[Adapter] = None
        if validation_data is not None:
            if _is_batches(validation_data):
                val = self._adapter(validation_data, None, batch_size, validation_steps,
                                    "validation_data")
            elif not isinstance(validation_data, (tuple, list)) or \
                    len(validation_data) not in (2, 3):
                raise ValueError("validation_data must be a tuple (x_val, y_val) or (x_val, "
                                 "y_val, val_sample_weight), a ccnn.utils.PyDataset or a "
                                 "generator")
            else:
                xv, yv, swv = self._prepare_xy(
                    validation_data[0], validation_data[1],
                    validation_data[2] if len(validation_data) == 3 else None, None, "_val")
                val = data_adapters.ArrayAdapter(xv, yv, val_batch_size, swv)
        if _is_batches(x):
            if validation_split:
                raise ValueError("validation_split is only supported for arrays, not for "
                                 f"a {type(x).__name__}; pass validation_data")
            if sample_weight is not None:
                raise ValueError("sample_weight must be None when x is a PyDataset or a "
                                 "generator; give batches (x, y, sample_weight) instead")
            train = self._adapter(x, y, batch_size, steps_per_epoch, "x", class_weight)
        else:
            train = self._array_adapter(x, y, batch_size, validation_split, sample_weight,
                                        class_weight, val_batch_size)
            if validation_split:
                train, val = train
            if steps_per_epoch is not None:     # Keras 3's: epochs of `steps` batches
                train = data_adapters.StepsAdapter(train, steps_per_epoch)
        return self._fit_loop(train, val, epochs, initial_epoch, verbose, callbacks,
                              shuffle, validation_freq, bool(terminate_on_nan))

    def _prepare_sw(self, sample_weight: Any, class_weight: Any, y: np.ndarray,
                    name: str) -> Optional[np.ndarray]:
        """Sample weights as a float64 (n,) array (Keras's: from class_weight,
        a dict class -> weight, 1.0 for a class it leaves out)."""
        n = y.shape[0]
        if sample_weight is not None and class_weight is not None:
            raise ValueError("You cannot use both `class_weight` and `sample_weight` at the "
                             "same time.")
        if class_weight is not None:
            if not isinstance(class_weight, dict) or not all(
                    isinstance(k, numbers.Integral) and not isinstance(k, bool)
                    and isinstance(v, numbers.Real) and not isinstance(v, bool)
                    for k, v in class_weight.items()):
                raise TypeError(f"class_weight must be a dict of int class -> float weight, "
                                f"got {class_weight!r}")
            lookup = {int(k): float(v) for k, v in class_weight.items()}
            classes = self._lossfn.true_classes(y)
            return np.array([lookup.get(int(c), 1.0) for c in classes], dtype=np.float64)
        if sample_weight is None:
            return None
        sw = _real_array(sample_weight, name)
        if sw.ndim == 2 and sw.shape[1] == 1:
            sw = sw[:, 0]
        if sw.shape != (n,):
            raise ValueError(f"{name} must have shape ({n},) (one weight per sample), got "
                             f"{sw.shape}")
        sw = sw.astype(np.float64)
        if not np.all(np.isfinite(sw)):
            raise ValueError(f"{name} must be finite")
        return sw

    def _prepare_xy(self, x: Any, y: Any, sample_weight: Any, class_weight: Any,
                    suffix: str = "") -> Tuple[np.ndarray, np.ndarray, Optional[np.ndarray]]:
        x = self._prepare_x(x, "x" + suffix)
        y = self._prepare_y(y, x.shape[0], "y" + suffix)
        name = "val_sample_weight" if suffix else "sample_weight"
        return x, y, self._prepare_sw(sample_weight, class_weight, y, name)

    def _adapter(self, x: Any, y: Any, batch_size: int, steps: Optional[int],
                 name: str, class_weight: Any = None) -> "Adapter":
        if y is not None:
            raise ValueError(f"y must be None when {name} is a PyDataset or a generator "
                             f"(it gives the targets)")

        def prepare(xb: Any, yb: Any, swb: Any) -> data_adapters.Batch:
            xb = self._prepare_x(xb, f"{name}'s batch x")
            yb = self._prepare_y(yb, xb.shape[0], f"{name}'s batch y")
            return xb, yb, self._prepare_sw(swb, class_weight, yb,
                                            f"{name}'s batch sample_weight")
        if data_adapters.is_dataset(x):
            return data_adapters.DatasetAdapter(x, steps, prepare, name)
        return data_adapters.GeneratorAdapter(x, steps, prepare, name)

    def _array_adapter(self, x: Any, y: Any, batch_size: int, validation_split: float,
                       sample_weight: Any = None, class_weight: Any = None,
                       val_batch_size: Optional[int] = None) -> Any:
        """The adapter of arrays (x, y); with validation_split, the pair
        (training, validation) adapters, the latter in batches of
        val_batch_size (None: batch_size)."""
        x, y, sw = self._prepare_xy(x, y, sample_weight, class_weight)
        if validation_split:
            if isinstance(validation_split, bool) or not isinstance(validation_split,
                                                                    numbers.Real) \
                    or not 0.0 <= validation_split < 1.0:
                raise ValueError(f"validation_split must be a float in [0, 1), got "
                                 f"{validation_split!r}")
            split = int(x.shape[0] * (1.0 - validation_split))
            if split == 0 or split == x.shape[0]:
                raise ValueError(f"Training data contains {x.shape[0]} samples, which is not "
                                 f"sufficient to split it into a validation and training set "
                                 f"as specified by validation_split={validation_split}")
            return (data_adapters.ArrayAdapter(x[:split], y[:split], batch_size,
                                               None if sw is None else sw[:split]),
                    data_adapters.ArrayAdapter(x[split:], y[split:],
                                               val_batch_size or batch_size,
                                               None if sw is None else sw[split:]))
        return data_adapters.ArrayAdapter(x, y, batch_size, sw)

    def _fit_loop(self, train: "Adapter", val: Optional["Adapter"], epochs: int,
                  initial_epoch: int, verbose: int, callbacks: Optional[List[Callback]],
                  shuffle: bool, validation_freq: int, terminate_on_nan: bool) -> History:
        steps = train.steps
        history = History()
        # Keras's order: the user's callbacks, then History, then the progress
        # bar (so it shows what the others put in the logs, e.g. learning_rate)
        cbs: List[Callback] = list(callbacks or []) + [history]
        cbs += [ProgbarLogger(verbose)] if verbose else []
        dist = distribution_mod.current()      # distribution hook: rank 0 prints and writes
        cbs = dist.filter_callbacks(cbs)
        params = {"epochs": epochs, "steps": steps, "verbose": verbose}
        if isinstance(train, data_adapters.ArrayAdapter):
            params.update(batch_size=train.batch_size, samples=train.samples)
        cbl = CallbackList(cbs, self, params)
        objs = self._compiled_metrics(None)
        self.stop_training = False
        self.history = history  # filled epoch by epoch: complete up to an interruption
        cbl.on_train_begin({})
        dist.begin_fit(self)       # distribution hook: every rank starts from rank 0's replica
        # a callback that restored a backup (BackupAndRestore) says where to go on
        initial_epoch = max(initial_epoch, self.__dict__.pop("_resume_epoch", initial_epoch))
        logs: Dict[str, Any] = {}
        spe = self.steps_per_execution
        for epoch in range(initial_epoch, epochs):
            cbl.on_epoch_begin(epoch, {})
            loss_sum, seen = 0.0, 0
            self._reset_metrics()
            logs = {}
            # spe 1: the batches themselves; else executions of spe batches
            if spe == 1:
                units: Iterator[Any] = dist.shard(train, shuffle)
            else:
                units = dist.executions(train, shuffle, spe)
            begin = 0
            for unit in units:
                # Keras 3: the hooks once per execution, with its first and last step
                cbl.on_train_batch_begin(begin, {})
                if spe == 1:
                    loss, nb, applied = self._batch_step(unit, objs, terminate_on_nan)
                    loss_sum += loss * nb
                    seen += nb
                    step = begin
                    begin += 1
                else:
                    results = self._train_execution(unit, objs, terminate_on_nan)
                    for loss, nb, applied in results:
                        loss_sum += loss * nb
                        seen += nb
                    step = begin + len(results) - 1
                    begin += len(unit)
                logs = self._metric_logs({"loss": loss_sum / seen}, objs)
                cbl.on_train_batch_end(step, dict(logs))
                if not applied:
                    what = (f"the loss is {loss}" if not math.isfinite(loss) else
                            f"the gradients are not finite (the loss is {loss:.6g})")
                    _warn(f"Epoch {epoch + 1}/{epochs}, step {step + 1}/{steps or '?'}: "
                          f"{what}; "
                          f"terminating training (the weights are those of the last finite "
                          f"step; fit(..., terminate_on_nan=False) would train on)",
                          RuntimeWarning)
                    self.stop_training = True
                if self.stop_training:
                    break
            logs = dist.epoch_logs(logs, objs)     # distribution hook: over every rank
            if train.exhausted:
                self.stop_training = True
                if not seen:
                    break
            train.on_epoch_end()
            if val is not None and (epoch + 1) % validation_freq == 0:
                val_logs = self._evaluate_batches(dist.shard(val, False, training=False), cbl)
                logs.update({"val_" + k: v for k, v in val_logs.items()})
            cbl.on_epoch_end(epoch, logs)
            if self.stop_training:
                break
        dist.end_fit(self)
        cbl.on_train_end(dict(logs))
        self.history = history
        return history

    # ------------------------------------------------------------ inference
    def _evaluate_batches(self, batches: Iterator[data_adapters.Batch],
                          cbl: CallbackList) -> Dict[str, Any]:
        """The logs of one pass in inference mode (loss first, then the
        metrics), calling the on_test_* hooks as Keras's evaluate does."""
        objs = self._reset_metrics()
        loss_sum, seen = 0.0, 0
        logs: Dict[str, Any] = {}
        cbl.on_test_begin({})
        for step, (xb, yb, swb) in enumerate(batches):
            cbl.on_test_batch_begin(step, {})
            out = self._evaluate_forward(xb)
            loss_sum += self._batch_loss(out, yb, swb) * xb.shape[0]
            seen += xb.shape[0]
            self._update_metrics(objs, out, yb, swb)
            logs = self._metric_logs({"loss": loss_sum / seen}, objs)
            cbl.on_test_batch_end(step, dict(logs))
        # distribution hook: the sums over every rank's shard
        loss_sum, seen = distribution_mod.current().reduce_eval(objs, loss_sum, seen)
        if not seen:
            raise ValueError("evaluate got no batches (an exhausted generator?)")
        logs = self._metric_logs({"loss": loss_sum / seen}, objs)
        cbl.on_test_end(dict(logs))
        return logs

    def _evaluate_forward(self, x: np.ndarray) -> np.ndarray:
        """The inference-mode output for one of evaluate's prepared batches:
        the inference plan's (inference.evaluate_forward), else the per-layer
        forward's."""
        out = inference.evaluate_forward(self, x)
        return self._forward(x, training=False) if out is None else out

    def _callback_list(self, callbacks: Any, params: Dict[str, Any]) -> CallbackList:
        _check_callbacks(callbacks)
        return CallbackList(list(callbacks or []), self, params)

    @_one_blas_thread
    def evaluate(self, x: Any = None, y: Any = None, batch_size: Optional[int] = 32,
                 verbose: Any = 0, callbacks: Optional[List[Callback]] = None,
                 return_dict: bool = False, steps: Optional[int] = None,
                 sample_weight: Any = None):
        """[loss, *metrics] on (x, y) -- arrays, a ccnn.utils.PyDataset or a
        generator (`steps` batches, or all) -- in inference mode (just the
        loss without metrics); with return_dict=True a dict {'loss': ..., name: ...}."""
        self._require_compiled()
        batch_size = 32 if batch_size is None else _positive_int(batch_size, "batch_size")
        steps = _optional_steps(steps, "steps")
        verbose = _verbose(verbose)
        if _is_batches(x):
            if sample_weight is not None:
                raise ValueError("sample_weight must be None when x is a PyDataset or a "
                                 "generator; give batches (x, y, sample_weight) instead")
            data: Adapter = self._adapter(x, y, batch_size, steps, "x")
        else:
            arrays: data_adapters.ArrayAdapter = self._array_adapter(x, y, batch_size, 0.0,
                                                                     sample_weight)
            # Keras's steps of arrays: the first `steps` batches
            data = arrays if steps is None else arrays.first_batches(steps)
        cbl = self._callback_list(callbacks, {"epochs": 1, "steps": data.steps,
                                              "verbose": verbose})
        logs = self._evaluate_batches(distribution_mod.current().shard(data, False, False), cbl)
        if verbose and distribution_mod.current().is_chief:
            print(f"{data.steps} steps -" + _fmt_logs(logs)[2:])
        if return_dict:
            return logs
        return list(logs.values()) if len(logs) > 1 else logs["loss"]

    @_one_blas_thread
    def predict(self, x: Any, batch_size: Optional[int] = 32, verbose: Any = 0,
                steps: Optional[int] = None,
                callbacks: Optional[List[Callback]] = None) -> np.ndarray:
        """The model's outputs (softmax probabilities for the book's model), batch by
        batch; with steps (Keras's), those of the first `steps` batches only
        (all of x when it has fewer)."""
        batch_size = 32 if batch_size is None else _positive_int(batch_size, "batch_size")
        steps = _optional_steps(steps, "steps")
        verbose = _verbose(verbose)
        x = self._prepare_x(x)
        if steps is not None:
            x = x[:steps * batch_size]
        steps = math.ceil(x.shape[0] / batch_size)
        cbl = self._callback_list(callbacks, {"epochs": 1, "steps": steps, "verbose": verbose})
        cbl.on_predict_begin({})
        outs = []
        for step, lo in enumerate(range(0, x.shape[0], batch_size)):
            cbl.on_predict_batch_begin(step, {})
            outs.append(self._predict_batch(x[lo:lo + batch_size]))
            cbl.on_predict_batch_end(step, {"outputs": outs[-1]})
        cbl.on_predict_end({})
        return self._concat_outputs(outs)

    def _concat_outputs(self, outs: List[Any]) -> Any:
        """predict's result from the batches' outputs."""
        return np.concatenate(outs, axis=0)

    @_one_blas_thread
    def test_on_batch(self, x: Any, y: Any = None, sample_weight: Any = None,
                      return_dict: bool = False):
        """[loss, *metrics] of one batch in inference mode, no update (Keras's)."""
        self._require_compiled()
        batch = self._prepare_xy(x, y, sample_weight, None)
        logs = self._evaluate_batches(iter([batch]), CallbackList([], self, {}))
        if return_dict:
            return logs
        return list(logs.values()) if len(logs) > 1 else logs["loss"]

    @_one_blas_thread
    def predict_on_batch(self, x: Any) -> np.ndarray:
        """The outputs for one batch in inference mode."""
        return self._predict_batch(self._prepare_x(x))

    @_one_blas_thread
    def __call__(self, x: Any, training: bool = False) -> np.ndarray:
        if is_symbolic_arg(x):
            return self._symbolic(x)
        if not training:
            return self._predict_batch(self._prepare_x(x))
        return self._forward(self._prepare_x(x), training)

    def _predict_batch(self, x: np.ndarray) -> np.ndarray:
        """A new array of the outputs for the prepared batch x in inference
        mode: the compiled inference plan (ccnn.models.inference) where the
        model has one, else the per-layer forward."""
        out = inference.predict(self, x)
        if out is not None:
            return out
        out = self._forward(x, training=False)
        return [o.copy() for o in out] if isinstance(out, list) else out.copy()

