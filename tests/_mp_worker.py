"""Functions that tests/test_pickle.py runs in worker processes (spawn start
method: the child imports this module by name, so it stays small)."""
from typing import Any, Optional, Tuple

import numpy as np


def small_model(seed: int = 0) -> Any:
    """A compiled conv -> pool -> dropout -> dense model for 12x12 images."""
    import ccnn
    from ccnn.layers import Conv2D, Dense, Dropout, Flatten, MaxPooling2D

    ccnn.utils.set_random_seed(seed)
    model = ccnn.Sequential([
        Conv2D(4, (3, 3), activation="relu", padding="same", input_shape=(12, 12, 1)),
        MaxPooling2D((2, 2)), Flatten(), Dropout(0.3, seed=seed),
        Dense(16, activation="relu"), Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def data(n: int = 96, seed: int = 0) -> Tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.random((n, 12, 12, 1), dtype=np.float32), rng.integers(0, 10, n)


def train(model: Optional[Any], epochs: int, seed: int) -> Tuple[Any, np.ndarray, int]:
    """Train `model` (or a new small_model) in this process; return it, its
    predictions on the training data and this process's id."""
    import os

    import ccnn

    ccnn.set_num_threads(1)
    if model is None:
        model = small_model(seed)
    ccnn.utils.set_random_seed(seed)
    x, y = data()
    model.fit(x, y, batch_size=16, epochs=epochs, verbose=0)
    return model, model.predict(x), os.getpid()
