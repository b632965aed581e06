"""Keras's other names for its layer classes (MaxPool2D, Convolution2D, ...).

The reference is Keras 3 itself: every public name of keras.layers that is
the very class of another public name is, in ccnn.layers, the very class of
that other name whenever ccnn has the class."""
import numpy as np
import pytest

import ccnn
from _testutils import keras_or_skip


def _keras_aliases():
    keras = keras_or_skip()
    public = {n: getattr(keras.layers, n) for n in dir(keras.layers) if n[:1].isupper()}
    return {alias: cls.__name__ for alias, cls in public.items()
            if isinstance(cls, type) and alias != cls.__name__ and cls.__name__ in public}


def test_every_keras_alias_of_a_ccnn_layer_is_the_same_class():
    aliases = _keras_aliases()
    ours = {a: c for a, c in aliases.items() if hasattr(ccnn.layers, c)}
    # the names tutorials use most are among them
    assert {"MaxPool2D", "AvgPool2D", "Convolution2D", "GlobalAvgPool2D"} <= set(ours)
    for alias, canonical in ours.items():
        assert getattr(ccnn.layers, alias, None) is getattr(ccnn.layers, canonical), alias
        assert alias in ccnn.layers.__all__


def test_an_alias_builds_the_layer_of_its_class():
    m = ccnn.Sequential([ccnn.Input((8, 8, 1)), ccnn.layers.Convolution2D(2, 3),
                         ccnn.layers.MaxPool2D(), ccnn.layers.GlobalAvgPool2D()])
    assert [type(layer).__name__ for layer in m.layers] == [
        "Conv2D", "MaxPooling2D", "GlobalAveragePooling2D"]
    assert m.predict(np.ones((1, 8, 8, 1), np.float32), verbose=0).shape == (1, 2)
    # configs name the class, so the files Keras writes and reads agree
    assert m.layers[1].get_config()["name"].startswith("max_pooling2d")
    with pytest.raises(ValueError, match="MaxPool2D"):
        ccnn.layers.get("MaxPool2D")            # as keras.layers.deserialize refuses it
