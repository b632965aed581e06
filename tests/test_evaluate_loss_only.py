"""evaluate and test_on_batch (and so fit's validation, which runs
evaluate's loop) compute the loss alone: the value the training step's
loss-and-gradient path gives, bit for bit, with every gradient routine made
to raise (so none of them runs)."""
import numpy as np
import pytest

import ccnn
from ccnn import losses
from ccnn.layers import Activation, Dense

from ccnn.models import functional as functional_models


def _data(n=40, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 6))
    labels = ((x[:, :3].sum(1) > 0).astype(np.int64) + (x[:, 3] > 1)) % 3
    return x, labels


def _boom(*args, **kwargs):
    raise AssertionError("a loss gradient was computed")


# (output layers, loss, targets from the labels)
CASES = {
    "sparse, fused softmax": (lambda: [Dense(3, activation="softmax", dtype="float64")],
                              lambda: losses.SparseCategoricalCrossentropy(), lambda y: y),
    "categorical, fused softmax": (lambda: [Dense(3, activation="softmax", dtype="float64")],
                                   lambda: losses.CategoricalCrossentropy(label_smoothing=0.1),
                                   lambda y: np.eye(3)[y]),
    "categorical, from logits": (lambda: [Dense(3, dtype="float64")],
                                 lambda: losses.CategoricalCrossentropy(from_logits=True),
                                 lambda y: np.eye(3)[y]),
    "sparse, on probabilities": (lambda: [Dense(3, dtype="float64"),
                                          Activation("softmax", dtype="float64")],
                                 lambda: losses.SparseCategoricalCrossentropy(),
                                 lambda y: y),
    "binary, fused sigmoid": (lambda: [Dense(1, activation="sigmoid", dtype="float64")],
                              lambda: losses.BinaryCrossentropy(),
                              lambda y: (y > 0).astype(np.float64)[:, None]),
    "mean squared error": (lambda: [Dense(3, dtype="float64")],
                           lambda: losses.MeanSquaredError(), lambda y: np.eye(3)[y]),
}


def _no_gradients(monkeypatch):
    monkeypatch.setattr(losses._loss, "softmax_xent_backward", _boom)
    monkeypatch.setattr(losses._loss, "softmax_xent_dense_backward", _boom)
    monkeypatch.setattr(losses, "_probs_xent", _boom)
    monkeypatch.setattr(losses.BinaryCrossentropy, "_logit_gradient", staticmethod(_boom))
    monkeypatch.setattr(losses.MeanSquaredError, "gradient", _boom)


@pytest.mark.parametrize("functional", [False, True], ids=["sequential", "functional"])
@pytest.mark.parametrize("case", list(CASES))
def test_evaluate_computes_no_gradient_and_the_same_loss(case, functional, monkeypatch):
    heads, make_loss, targets = CASES[case]
    x, labels = _data()
    y = targets(labels)
    ccnn.utils.set_random_seed(0)
    layers = [Dense(8, activation="relu", dtype="float64")] + heads()
    if functional:
        inp = ccnn.layers.Input((6,))
        out = inp
        for layer in layers:
            out = layer(out)
        m = functional_models.Model(inp, out)
    else:
        m = ccnn.models.Sequential(layers)
    m.compile(optimizer="sgd", loss=make_loss())
    m.build((None, 6))
    m.fit(x, y, batch_size=8, epochs=1, verbose=0)
    # what the training step's loss-and-gradient path gives for each batch
    want = _train_path_loss(m, x, y, functional)
    halves = [_train_path_loss(m, x[part], y[part], functional)
              for part in (slice(0, 20), slice(20, 40))]
    _no_gradients(monkeypatch)
    assert m.test_on_batch(x, y) == want
    assert m.evaluate(x, y, batch_size=len(x)) == want
    assert m.evaluate(x, y, batch_size=20) == (halves[0] * 20 + halves[1] * 20) / 40


def _train_path_loss(m, x, y, functional):
    """The batch's loss as the training step computes it (with its gradient)."""
    xb, yb, _ = m._prepare_xy(x, y, None, None)
    out = m._forward(xb, training=False)
    if functional:
        return m._output_losses(out, yb, None, True)[0]
    return m._execution_plan().head.loss(out, yb)[0]
