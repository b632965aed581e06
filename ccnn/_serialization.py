"""Keras's {"class_name", "config"} form of an object, shared by metrics and
learning-rate schedules."""
from __future__ import annotations

from typing import Any, Dict, Mapping, Type


def serialize(obj: Any, base: Type[Any], what: str) -> Dict[str, Any]:
    """{"class_name": ..., "config": obj.get_config()}; obj must be a `base`."""
    if not isinstance(obj, base):
        raise TypeError(f"{what} must be a {base.__module__}.{base.__name__}, got "
                        f"{type(obj).__name__}")
    return {"class_name": type(obj).__name__, "config": obj.get_config()}


def deserialize(config: Any, registry: Mapping[str, Any], what: str) -> Any:
    """registry[config["class_name"]].from_config(config["config"]); Keras's
    extra keys ("module", "registered_name") are ignored."""
    if not isinstance(config, dict) or "class_name" not in config:
        raise TypeError(f"config must be a dict with 'class_name' and 'config', got {config!r}")
    cls = registry.get(config["class_name"])
    if cls is None:
        raise ValueError(f"Unknown {what} {config['class_name']!r}; ccnn has "
                         f"{sorted(registry)}")
    return cls.from_config(dict(config.get("config", {})))
