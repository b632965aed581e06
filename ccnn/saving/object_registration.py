"""Keras 3's custom-object registry (keras/src/saving/object_registration.py):
the names under which a user's own classes (Layer subclasses, losses,
metrics) are found when a model is rebuilt from its config.

    with ccnn.saving.custom_object_scope({"MyLayer": MyLayer}):
        model = ccnn.models.load_model("m.ccnn")

    @ccnn.saving.register_keras_serializable(package="my_package")
    class MyLayer(ccnn.layers.Layer): ...

Nothing here imports or executes anything by name: a name is only ever
looked up in these dictionaries.
"""
from __future__ import annotations

import threading
from typing import Any, Callable, Dict, List, Mapping, Optional

__all__ = ["CustomObjectScope", "custom_object_scope", "get_custom_objects",
           "register_keras_serializable", "get_registered_name", "get_registered_object"]

#: register_keras_serializable's objects, by "package>name"
_GLOBAL_CUSTOM_OBJECTS: Dict[str, Any] = {}
#: the registered name of each registered object (by id: classes and functions)
_GLOBAL_CUSTOM_NAMES: Dict[int, str] = {}
_scopes = threading.local()


def _scope_stack() -> List[Dict[str, Any]]:
    stack = getattr(_scopes, "stack", None)
    if stack is None:
        stack = _scopes.stack = []
    return stack


def _check_objects(custom_objects: Any, name: str = "custom_objects") -> Dict[str, Any]:
    if custom_objects is None:
        return {}
    if not isinstance(custom_objects, Mapping) or not all(
            isinstance(k, str) for k in custom_objects):
        raise TypeError(f"{name} must be a dict of name -> class or function, got "
                        f"{type(custom_objects).__name__}")
    return dict(custom_objects)


class CustomObjectScope:
    """Within `with CustomObjectScope({"MyLayer": MyLayer}):`, rebuilding a
    model from its config (load_model, model_from_json, from_config) finds
    these names before ccnn's own; scopes nest, per thread."""

    def __init__(self, custom_objects: Optional[Mapping[str, Any]] = None):
        self.custom_objects = _check_objects(custom_objects)

    def __enter__(self) -> "CustomObjectScope":
        _scope_stack().append(self.custom_objects)
        return self

    def __exit__(self, *exc: Any) -> None:
        _scope_stack().pop()


#: Keras's alias
custom_object_scope = CustomObjectScope


def get_custom_objects() -> Dict[str, Any]:
    """The global dict of registered objects (register_keras_serializable
    fills it; adding to it by hand works too, as in Keras)."""
    return _GLOBAL_CUSTOM_OBJECTS


def register_keras_serializable(package: str = "Custom", name: Optional[str] = None
                                ) -> Callable[[Any], Any]:
    """A decorator registering a class or function as "package>name" (name:
    its __name__), so that configs naming it can be rebuilt."""
    if not isinstance(package, str) or ">" in package:
        raise ValueError(f"package must be a str without '>', got {package!r}")

    def decorator(obj: Any) -> Any:
        obj_name = obj.__name__ if name is None else name
        if not isinstance(obj_name, str) or not obj_name:
            raise ValueError(f"name must be a non-empty str, got {obj_name!r}")
        key = f"{package}>{obj_name}"
        if key in _GLOBAL_CUSTOM_OBJECTS and _GLOBAL_CUSTOM_OBJECTS[key] is not obj:
            raise ValueError(f"{key} has already been registered to "
                             f"{_GLOBAL_CUSTOM_OBJECTS[key]}")
        if isinstance(obj, type) and not callable(getattr(obj, "get_config", None)):
            raise ValueError("Cannot register a class that does not have a get_config() "
                             "method.")
        _GLOBAL_CUSTOM_OBJECTS[key] = obj
        _GLOBAL_CUSTOM_NAMES[id(obj)] = key
        return obj
    return decorator


def get_registered_name(obj: Any) -> str:
    """The name obj was registered under, else its __name__."""
    return _GLOBAL_CUSTOM_NAMES.get(id(obj), getattr(obj, "__name__", type(obj).__name__))


def get_registered_object(name: str, custom_objects: Optional[Mapping[str, Any]] = None,
                          module_objects: Optional[Mapping[str, Any]] = None) -> Any:
    """The object called `name`: from the innermost custom_object_scope, then
    `custom_objects`, then the registered objects (by "package>name", or by a
    plain name that one package registered), then `module_objects`; None when
    nobody has it."""
    if not isinstance(name, str):
        return None
    for scope in reversed(_scope_stack()):
        if name in scope:
            return scope[name]
    if custom_objects and name in custom_objects:
        return custom_objects[name]
    if name in _GLOBAL_CUSTOM_OBJECTS:
        return _GLOBAL_CUSTOM_OBJECTS[name]
    if ">" not in name:
        found = [obj for key, obj in _GLOBAL_CUSTOM_OBJECTS.items()
                 if key.rpartition(">")[2] == name]
        if len(found) == 1:
            return found[0]
    if module_objects and name in module_objects:
        return module_objects[name]
    return None
