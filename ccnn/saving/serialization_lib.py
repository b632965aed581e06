"""A model, its compile() arguments and the objects in them as JSON-able
dicts, and back (Keras 3's keras/src/saving/serialization_lib.py): what
model.to_json, model.get_compile_config and ccnn's model files hold.

    serialize_model(model)            {"class_name", "config", "build_config"}
    deserialize_model(d)              a new model (fresh weights) of that architecture
    serialize_compile_config(model)   {"optimizer", "loss", "metrics", ...} or None
    compile_args_from_config(d)       compile()'s keyword arguments again

Classes are found by name only: ccnn's own, or the user's own through
custom_objects / custom_object_scope / register_keras_serializable
(object_registration); nothing is imported or executed by name.
"""
from __future__ import annotations

import json
from typing import Any, Dict, List, Mapping, Optional, cast

import numpy as np

from .object_registration import get_registered_name, get_registered_object

# The model classes a file may name, and the attribute of ccnn.models that is
# each one (looked up when needed: ccnn.models imports this package).
_MODEL_CLASSES = {
    "Sequential": "Sequential",
    "Functional": "Model",     # hook: ccnn.Model (functional models; Keras saves them as "Functional")
}


def model_classes() -> Dict[str, type]:
    """{class name in a file: model class} for the model classes ccnn has."""
    from .. import models
    out = {}
    for name, attr in _MODEL_CLASSES.items():
        cls = getattr(models, attr, None)
        if isinstance(cls, type):
            out[name] = cls
    return out


def model_class_name(model: Any) -> str:
    """The class name a file gives `model` ("Sequential", "Functional", or
    the registered name of a user's subclass); TypeError for a non-model."""
    classes = model_classes()
    for name, cls in classes.items():
        if type(model) is cls:
            return name
    if not isinstance(model, tuple(classes.values())):
        raise TypeError(f"model must be a ccnn model ({', '.join(classes)}), got "
                        f"{type(model).__name__}")
    return get_registered_name(type(model))


def to_jsonable(value: Any) -> Any:
    """json.dumps's default=: NumPy scalars and arrays as Python numbers and lists."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (tuple, set, frozenset)):
        return list(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def dumps(obj: Any) -> str:
    return json.dumps(obj, default=to_jsonable)


# ------------------------------------------------------------------ the model
def serialize_model(model: Any) -> Dict[str, Any]:
    """{"class_name", "config": model.get_config(), "build_config"} (Keras's
    keys): the architecture without weights; build_config holds the input
    shape the model was built for (None when not built)."""
    name = model_class_name(model)
    build = None
    if getattr(model, "built", False) and getattr(model, "input_shape", None) is not None:
        build = {"input_shape": model.input_shape}
    # through JSON: a config that is not plain data fails here, at save time
    return json.loads(dumps({"class_name": name, "config": model.get_config(),
                             "build_config": build}))


def deserialize_model(data: Any, custom_objects: Optional[Mapping[str, Any]] = None) -> Any:
    """A new model from serialize_model's dict (Keras's model JSON too): the
    class by name, from_config, then build for build_config's input shape."""
    from .object_registration import CustomObjectScope
    if not isinstance(data, dict) or not isinstance(data.get("class_name"), str) \
            or not isinstance(data.get("config"), dict):
        raise ValueError("a model's config must be a dict with 'class_name' (a str) and "
                         "'config' (a dict)")
    name = data["class_name"]
    classes = model_classes()
    with CustomObjectScope(custom_objects):
        cls = get_registered_object(data.get("registered_name") or name) or classes.get(name)
        if not (isinstance(cls, type) and issubclass(cls, tuple(classes.values()))):
            raise ValueError(f"Unknown model class {name!r}; ccnn has {sorted(classes)} (a "
                             f"model class of your own: pass it in custom_objects)")
        model = cast(Any, cls).from_config(data["config"])
        build = data.get("build_config")
        if isinstance(build, dict) and build.get("input_shape") is not None \
                and not model.built:
            shape = build["input_shape"]
            if not isinstance(shape, list):
                raise ValueError(f"build_config's input_shape must be a list, got {shape!r}")
            model.build(tuple(shape))
    return model


# ------------------------------------------------------------------ compile()
def _serialize(obj: Any) -> Dict[str, Any]:
    out = {"class_name": type(obj).__name__, "config": obj.get_config()}
    registered = get_registered_name(type(obj))
    if registered != type(obj).__name__:
        out["registered_name"] = registered
    return out


def _function_name(fn: Any, what: str) -> str:
    name = get_registered_name(fn)
    registered = name != getattr(fn, "__name__", None)
    if not isinstance(name, str) or not (registered or name.isidentifier()):
        raise ValueError(f"{what} {fn!r} cannot be saved by name; give it a def with a name "
                         f"(and pass it in custom_objects when loading)")
    return name


def serialize_metric(metric: Any) -> Any:
    """A compile() metric entry as JSON: a name stays a name, a Metric its
    {"class_name", "config"}, a class or function its name."""
    from .. import metrics as metrics_mod
    if isinstance(metric, str):
        return metric
    if type(metric) is metrics_mod.MeanMetricWrapper:
        return _function_name(metric._fn, "metric function")
    if isinstance(metric, metrics_mod.Metric):
        return _serialize(metric)
    if isinstance(metric, type) and issubclass(metric, metrics_mod.Metric):
        return _serialize(metric())
    if callable(metric):
        return _function_name(metric, "metric function")
    raise ValueError(f"metric {metric!r} cannot be saved")


def serialize_compile_config(model: Any) -> Optional[Dict[str, Any]]:
    """compile()'s arguments as plain data (Keras's get_compile_config keys),
    None when the model is not compiled.  A functional model with several
    outputs gives loss, metrics, weighted_metrics and loss_weights as dicts
    keyed by output name (an output without a loss is left out), as
    compile() takes them; weighted_metrics is None when there are none."""
    if not getattr(model, "compiled", False):
        return None
    from .. import optimizers
    config: Dict[str, Any] = {"optimizer": optimizers.serialize(model.optimizer),
                              "loss": None if model.loss is None else _serialize(model.loss),
                              "metrics": [serialize_metric(m)
                                          for m in getattr(model, "_metric_ids", [])],
                              "loss_weights": None,
                              "weighted_metrics": [serialize_metric(m) for m in getattr(
                                  model, "_weighted_metric_ids", [])] or None,
                              "run_eagerly": getattr(model, "run_eagerly", False) is True,
                              "steps_per_execution": getattr(model, "steps_per_execution", 1),
                              "jit_compile": False}
    per_output = getattr(model, "_losses", None)        # a functional model
    if per_output is None and model._loss_weight != 1.0:
        config["loss_weights"] = model._loss_weight      # a Sequential's (one output)
    if per_output is not None:
        names = model.output_names
        weighted = getattr(model, "_weighted_metric_ids_out", [[] for _ in names])
        if len(names) == 1:
            config["metrics"] = [serialize_metric(m) for m in model._metric_ids_out[0]]
            config["weighted_metrics"] = [serialize_metric(m) for m in weighted[0]] or None
            if model._loss_weights[0] != 1.0:
                config["loss_weights"] = model._loss_weights[0]
        else:
            config["loss"] = {n: _serialize(v) for n, v in zip(names, per_output)
                              if v is not None}
            config["metrics"] = {n: [serialize_metric(m) for m in ids]
                                 for n, ids in zip(names, model._metric_ids_out) if ids}
            config["weighted_metrics"] = {n: [serialize_metric(m) for m in ids]
                                          for n, ids in zip(names, weighted) if ids} or None
            config["loss_weights"] = dict(zip(names, model._loss_weights))
    return json.loads(dumps(config))


def _deserialize(config: Any, module_deserialize: Any, base: type, what: str) -> Any:
    """A {"class_name", "config"} dict as an object: a user's class of that
    name (custom objects) first, then the module's deserialize."""
    if not isinstance(config, dict) or not isinstance(config.get("class_name"), str):
        raise ValueError(f"{what} config must be a dict with a 'class_name', got {config!r}")
    cls = get_registered_object(config.get("registered_name") or config["class_name"])
    if isinstance(cls, type) and issubclass(cls, base):
        inner = config.get("config", {})
        if not isinstance(inner, dict):
            raise ValueError(f"{what} config's 'config' must be a dict, got {inner!r}")
        return cast(Any, cls).from_config(dict(inner))
    return module_deserialize(config)


def _named(identifier: Any) -> Any:
    """A name of compile()'s arguments: a custom object of that name, or the name."""
    if isinstance(identifier, str):
        obj = get_registered_object(identifier)
        if obj is not None:
            return obj
    return identifier


def _is_object_config(value: Any) -> bool:
    return isinstance(value, dict) and "class_name" in value


def _per_output(value: Any, what: str, one: Any) -> Any:
    """`one` applied to a single entry, or to each value of a dict keyed by
    output name (a functional model with several outputs)."""
    if isinstance(value, dict) and not _is_object_config(value):
        if not all(isinstance(k, str) for k in value):
            raise ValueError(f"compile config: {what} keys must be output names, got {value!r}")
        return {k: one(v) for k, v in value.items()}
    return one(value)


def compile_args_from_config(config: Any) -> Dict[str, Any]:
    """compile()'s keyword arguments (optimizer, loss, metrics,
    weighted_metrics, loss_weights, steps_per_execution, run_eagerly) from serialize_compile_config's dict (or Keras's)."""
    from .. import losses, metrics, optimizers
    if not isinstance(config, dict):
        raise ValueError(f"the compile config must be a dict, got {type(config).__name__}")
    opt = config.get("optimizer", "rmsprop")
    opt = (_deserialize(opt, optimizers.deserialize, optimizers.Optimizer, "optimizer")
           if isinstance(opt, dict) else _named(opt))

    def one_loss(v: Any) -> Any:
        return (_deserialize(v, losses.deserialize, losses.Loss, "loss")
                if isinstance(v, dict) else _named(v))

    def metric_list(ids: Any) -> List[Any]:
        if not isinstance(ids, list):
            raise ValueError(f"compile config: metrics must be lists, got {ids!r}")
        out: List[Any] = []
        for m in ids:
            if isinstance(m, dict):
                out.append(_deserialize(m, metrics.deserialize, metrics.Metric, "metric"))
            elif isinstance(m, str):
                out.append(_named(m))
            else:
                raise ValueError(f"compile config: a metric must be a name or a config "
                                 f"dict, got {m!r}")
        return out

    def weight(w: Any) -> float:
        if isinstance(w, bool) or not isinstance(w, (int, float)):
            raise ValueError(f"compile config: a loss weight must be a number, got {w!r}")
        return float(w)

    args: Dict[str, Any] = {
        "optimizer": opt,
        "loss": _per_output(config.get("loss"), "loss", one_loss),
        "metrics": _per_output(config.get("metrics") or [], "metrics", metric_list)}
    if config.get("weighted_metrics") is not None:
        args["weighted_metrics"] = _per_output(config["weighted_metrics"], "weighted_metrics",
                                               metric_list)
    if config.get("loss_weights") is not None:
        args["loss_weights"] = _per_output(config["loss_weights"], "loss_weights", weight)
    if config.get("steps_per_execution", 1) != 1:      # compile() checks it
        args["steps_per_execution"] = config["steps_per_execution"]
    if config.get("run_eagerly", False) is not False:   # compile() checks it
        args["run_eagerly"] = config["run_eagerly"]
    # jit_compile is left out: a Keras file's (True under XLA) names the
    # other framework's compiler, and ccnn's steps are C whatever it says
    return args


def check_shape(value: Any, what: str) -> tuple:
    """A JSON shape (list of ints >= 0) as a tuple; ValueError otherwise."""
    if not isinstance(value, list) or not all(
            isinstance(d, int) and not isinstance(d, bool) and d >= 0
            for d in value):
        raise ValueError(f"{what} must be a list of ints >= 0, got {value!r}")
    return tuple(int(d) for d in value)
