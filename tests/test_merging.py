"""The merge layers (ccnn.layers.merging): forward and backward against NumPy
transcriptions and torch autograd, central differences in float64, Keras's
shapes and errors, configs."""
from __future__ import annotations

import numpy as np
import pytest

import ccnn
from ccnn import layers as L
from _testutils import DTYPES, assert_close, central_differences, keras_or_skip

torch = pytest.importorskip("torch")

# name -> (class, torch reference on a list of tensors)
REF = {
    "Add": (L.Add, lambda xs: sum(xs[1:], xs[0])),
    "Subtract": (L.Subtract, lambda xs: xs[0] - xs[1]),
    "Multiply": (L.Multiply, lambda xs: _reduce(torch.mul, xs)),
    "Average": (L.Average, lambda xs: sum(xs[1:], xs[0]) / len(xs)),
    "Maximum": (L.Maximum, lambda xs: _reduce(torch.maximum, xs)),
    "Minimum": (L.Minimum, lambda xs: _reduce(torch.minimum, xs)),
    "Concatenate": (L.Concatenate, lambda xs: torch.cat(xs, dim=-1)),
}


def _reduce(op, xs):
    out = xs[0]
    for x in xs[1:]:
        out = op(out, x)
    return out


def _shapes(name):
    if name == "Subtract":
        return [(4, 3, 5), (4, 3, 5)]
    if name == "Concatenate":
        return [(4, 3, 5), (4, 3, 2), (4, 3, 1)]
    return [(4, 3, 5), (4, 3, 5), (4, 3, 5)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(REF))
def test_forward_backward_vs_torch(name, dtype):
    cls, ref = REF[name]
    rng = np.random.default_rng(0)
    xs = [rng.standard_normal(s).astype(dtype) for s in _shapes(name)]
    keep = [x.copy() for x in xs]
    layer = cls(dtype=np.dtype(dtype).name)
    out = layer(xs)
    ts = [torch.tensor(x.astype(np.float64), requires_grad=True) for x in xs]
    want = ref(ts)
    assert_close(out, want.detach().numpy().astype(dtype), dtype)
    dout = rng.standard_normal(out.shape).astype(dtype)
    want.backward(torch.tensor(dout.astype(np.float64)))
    grads = layer.backward(dout)
    assert len(grads) == len(xs)
    for g, t in zip(grads, ts):
        assert_close(g, t.grad.numpy().astype(dtype), dtype)
    for x, k in zip(xs, keep):          # the user's arrays are never modified
        np.testing.assert_array_equal(x, k)


@pytest.mark.parametrize("name", sorted(REF))
def test_central_differences(name):
    cls, _ = REF[name]
    rng = np.random.default_rng(1)
    shapes = [(2, 3, 1), (2, 3, 4)] if name not in ("Concatenate",) else [(2, 3, 1), (2, 3, 4)]
    xs = [rng.standard_normal(s) for s in shapes]
    layer = cls(dtype="float64")
    out = layer(xs)
    dout = rng.standard_normal(out.shape)
    grads = layer.backward(dout)
    for i, x in enumerate(xs):
        def f(a, i=i):
            args = list(xs)
            args[i] = a
            return float((layer(args) * dout).sum())
        np.testing.assert_allclose(grads[i], central_differences(f, x), rtol=1e-6, atol=1e-8)


def test_broadcasting_and_ranks_as_keras():
    """(N, 1, 3) + (N, 2, 1) broadcasts; a lower-rank input gets unit axes after
    its batch axis (Keras's reshape), so (N, 3) + (N, 2, 3) is (N, 2, 3)."""
    rng = np.random.default_rng(2)
    a, b = rng.standard_normal((4, 1, 3)), rng.standard_normal((4, 2, 1))
    np.testing.assert_allclose(L.Add(dtype="float64")([a, b]), a + b)
    c, d = rng.standard_normal((4, 3)), rng.standard_normal((4, 2, 3))
    layer = L.Multiply(dtype="float64")
    out = layer([c, d])
    np.testing.assert_allclose(out, c[:, None, :] * d)
    dout = rng.standard_normal(out.shape)
    gc, gd = layer.backward(dout)
    np.testing.assert_allclose(gc, (dout * d).sum(axis=1))
    np.testing.assert_allclose(gd, dout * c[:, None, :])
    assert gc.shape == c.shape and gd.shape == d.shape


def test_ties_split_as_torch():
    x = np.array([[1.0, 2.0, 3.0]])
    layer = L.Maximum(dtype="float64")
    layer([x, x.copy(), np.array([[0.0, 5.0, 3.0]])])
    grads = layer.backward(np.ones((1, 3)))
    ts = [torch.tensor(a, requires_grad=True) for a in (x, x.copy(), np.array([[0.0, 5.0, 3.0]]))]
    _reduce(torch.maximum, ts).backward(torch.ones(1, 3, dtype=torch.float64))
    for g, t in zip(grads, ts):
        np.testing.assert_allclose(g, t.grad.numpy())


def test_symbolic_shapes_match_keras():
    keras = keras_or_skip()
    cases = [("Add", [(3,), (3,)]), ("Add", [(1, 3), (2, 1)]), ("Add", [(3,), (2, 3)]),
             ("Maximum", [(4, 2), (4, 2), (4, 2)]), ("Concatenate", [(2, 3), (5, 3)]),
             ("Subtract", [(None, 3), (4, 3)]), ("Multiply", [(2, 5), (1, 5)])]
    for name, shapes in cases:
        kwargs = {"axis": 1} if name == "Concatenate" else {}
        got = getattr(L, name)(**kwargs)([ccnn.Input(s) for s in shapes]).shape
        want = getattr(keras.layers, name)(**kwargs)([keras.Input(s) for s in shapes]).shape
        assert tuple(got) == tuple(want), (name, shapes)


@pytest.mark.parametrize("make, match", [
    (lambda: L.Add()(ccnn.Input((3,))), "should be called on a list of inputs"),
    (lambda: L.Add()([ccnn.Input((3,)), ccnn.Input((4,))]), "incompatible shapes"),
    (lambda: L.Subtract()([ccnn.Input((3,))] * 3), "exactly 2 inputs"),
    (lambda: L.Concatenate()([ccnn.Input((3,)), ccnn.Input((2, 3))]),
     "matching shapes except for the concatenation axis"),
    (lambda: L.Concatenate()([ccnn.Input((2, 3)), ccnn.Input((3, 3))]),
     "matching shapes except for the concatenation axis"),
    (lambda: L.Concatenate(axis=0)([ccnn.Input((3,)), ccnn.Input((3,))]), "batch axis"),
    (lambda: L.Add()([ccnn.Input((3,), batch_size=2), ccnn.Input((3,), batch_size=4)]),
     "different batch sizes"),
    (lambda: L.Add()(np.zeros((2, 3))), "list of inputs"),
    (lambda: L.Add()([np.zeros((2, 3)), np.zeros((2, 4))]), "incompatible shapes"),
])
def test_errors_are_keras_value_errors(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_wrong_arrays_at_run_time():
    layer = L.Add()
    layer([np.zeros((2, 3)), np.zeros((2, 3))])
    with pytest.raises(ValueError, match="expects 2 inputs"):
        layer([np.zeros((2, 3))] * 3)
    with pytest.raises(ValueError, match="incompatible"):
        layer([np.zeros((2, 3)), np.zeros((2, 4))])
    cat = L.Concatenate()
    cat([np.zeros((2, 3)), np.zeros((2, 1))])
    with pytest.raises(ValueError, match="matching shapes"):
        cat([np.zeros((2, 3)), np.zeros((3, 1, 2))])


def test_functional_forms_and_registry():
    a, b = ccnn.Input((3,)), ccnn.Input((3,))
    for fn, cls in [(L.add, L.Add), (L.subtract, L.Subtract), (L.multiply, L.Multiply),
                    (L.average, L.Average), (L.maximum, L.Maximum), (L.minimum, L.Minimum),
                    (L.concatenate, L.Concatenate)]:
        out = fn([a, b], name=f"my_{cls.__name__.lower()}")
        layer = out._history[0]
        assert type(layer) is cls and layer.name == f"my_{cls.__name__.lower()}"
        assert L.get(cls.__name__) is cls and cls.__name__ in L.__all__
        again = cls.from_config(layer.get_config())
        assert again.get_config() == layer.get_config()
    assert L.Concatenate(axis=1).get_config()["axis"] == 1


def test_config_keys_match_keras():
    keras = keras_or_skip()
    for name in REF:
        ours = set(getattr(L, name)().get_config())
        theirs = set(getattr(keras.layers, name)().get_config())
        assert theirs <= ours | {"dtype"}, (name, theirs - ours)


def test_a_merge_without_its_hooks_cannot_be_made():
    """_merge and _grads are abstract: a subclass must define both."""
    from ccnn.layers.merging import Merge

    class NoGrads(Merge):
        def _merge(self, xs):
            return xs[0] - xs[1]

    class NoMerge(Merge):
        def _grads(self, dout):
            return [dout, -dout]

    for cls, missing in [(Merge, "_grads, _merge"), (NoGrads, "_grads"), (NoMerge, "_merge")]:
        with pytest.raises(TypeError, match=f"abstract methods? {missing}$"):
            cls()

    class Difference(NoGrads, NoMerge):
        pass
    a, b = np.arange(6.0).reshape(2, 3), np.ones((2, 3))
    layer = Difference(dtype="float64")
    np.testing.assert_array_equal(layer([a, b]), a - b)
    da, db = layer.backward(np.full((2, 3), 2.0))
    np.testing.assert_array_equal(da, np.full((2, 3), 2.0))
    np.testing.assert_array_equal(db, np.full((2, 3), -2.0))
