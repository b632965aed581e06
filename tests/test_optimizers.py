"""ccnn.optimizers: Adam and SGD (fused C updates, csrc/kernels/optim.c) against NumPy
references of Keras's formulas, state handling, pickling and bad input."""

import pickle

import numpy as np
import pytest

import ccnn
from ccnn.optimizers import SGD, Adam, get


def adam_ref(params, grads_seq, lr=0.001, b1=0.9, b2=0.999, eps=1e-7):
    params = [p.astype(np.float64).copy() for p in params]
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    for t, grads in enumerate(grads_seq, start=1):
        alpha = lr * np.sqrt(1 - b2 ** t) / (1 - b1 ** t)
        for i, g in enumerate(grads):
            m[i] = b1 * m[i] + (1 - b1) * g
            v[i] = b2 * v[i] + (1 - b2) * g * g
            params[i] = params[i] - alpha * m[i] / (np.sqrt(v[i]) + eps)
    return params


def sgd_ref(params, grads_seq, lr=0.01, momentum=0.0, nesterov=False):
    params = [p.astype(np.float64).copy() for p in params]
    vel = [np.zeros_like(p) for p in params]
    for grads in grads_seq:
        for i, g in enumerate(grads):
            if momentum == 0:
                params[i] = params[i] - lr * g
                continue
            vel[i] = momentum * vel[i] - lr * g
            if nesterov:
                params[i] = params[i] + momentum * vel[i] - lr * g
            else:
                params[i] = params[i] + vel[i]
    return params


SHAPES = [(3, 4), (7,), (), (2, 3, 4, 5), (100_000,)]  # the last one runs multi-threaded


def problem(dtype=np.float64, steps=25, seed=0):
    rng = np.random.default_rng(seed)
    params = [rng.standard_normal(s).astype(dtype) for s in SHAPES]
    grads_seq = [[rng.standard_normal(s).astype(dtype) for s in SHAPES] for _ in range(steps)]
    return params, grads_seq


def run(opt, params, grads_seq):
    for grads in grads_seq:
        opt.apply_gradients(zip(grads, params))
    return params


@pytest.mark.parametrize("kwargs", [{}, dict(learning_rate=0.01, beta_1=0.8, beta_2=0.99,
                                             epsilon=1e-3)])
def test_adam_matches_reference_float64(kwargs):
    params, grads_seq = problem()
    ids = [id(p) for p in params]
    want = adam_ref(params, grads_seq, **{{"learning_rate": "lr", "beta_1": "b1",
                                          "beta_2": "b2", "epsilon": "eps"}[k]: v
                                         for k, v in kwargs.items()})
    opt = Adam(**kwargs)
    got = run(opt, params, grads_seq)
    assert [id(p) for p in got] == ids  # updated in place
    assert opt.iterations == 25
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=0, atol=1e-9)


@pytest.mark.parametrize("momentum,nesterov", [(0.0, False), (0.9, False), (0.9, True),
                                               (0.5, True), (1.0, False)])
def test_sgd_matches_reference_float64(momentum, nesterov):
    params, grads_seq = problem()
    want = sgd_ref(params, grads_seq, lr=0.05, momentum=momentum, nesterov=nesterov)
    got = run(SGD(learning_rate=0.05, momentum=momentum, nesterov=nesterov), params, grads_seq)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=0, atol=1e-9)


@pytest.mark.parametrize("opt_factory", [lambda: Adam(0.01), lambda: SGD(0.01, momentum=0.9)])
def test_float32_close_to_float64(opt_factory):
    p64, grads_seq = problem(steps=10)
    p32 = [p.astype(np.float32) for p in p64]
    run(opt_factory(), p64, grads_seq)
    run(opt_factory(), p32, grads_seq)  # float64 grads are cast to the param dtype
    for a, b in zip(p32, p64):
        assert a.dtype == np.float32
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_threads_do_not_change_results():
    results = []
    old = ccnn.get_num_threads()
    try:
        for n in (1, 2):
            ccnn.set_num_threads(n)
            params, grads_seq = problem(np.float32, steps=3)
            results.append(run(Adam(), params, grads_seq))
    finally:
        ccnn.set_num_threads(old)
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


def test_state_is_per_parameter_and_survives_pickling():
    params, grads_seq = problem(steps=25)
    ref_params = [p.copy() for p in params]
    opt = Adam(0.01)
    run(opt, params, grads_seq[:10])
    # pickle the parameters together with the optimizer (as a model does)
    params2, opt2 = pickle.loads(pickle.dumps((params, opt)))
    run(opt2, params2, grads_seq[10:])
    run(opt, params, grads_seq[10:])
    for a, b in zip(params, params2):
        np.testing.assert_array_equal(a, b)
    want = adam_ref(ref_params, grads_seq, lr=0.01)
    for a, w in zip(params2, want):
        np.testing.assert_allclose(a, w, atol=1e-9)
    assert len(opt2.variables) == 2 * len(params)


def test_sparse_calls_and_none_grads():
    """A param missing from a call keeps its state; None grads are skipped."""
    a, b = np.ones(3), np.ones(3)
    opt = SGD(0.1, momentum=0.5)
    opt.apply_gradients([(np.ones(3), a), (None, b)])
    np.testing.assert_allclose(b, 1)
    opt.apply_gradients([(np.ones(3), a)])
    np.testing.assert_allclose(a, 1 - 0.1 - (0.5 * 0.1 + 0.1))
    with pytest.raises(ValueError, match="No gradients"):
        opt.apply_gradients([(None, a)])


def test_book_style_call_with_generators():
    w = np.zeros((2, 2), dtype=np.float32)
    opt = Adam(learning_rate=0.1)
    opt.apply_gradients(zip([np.ones((2, 2))], [w]))
    np.testing.assert_allclose(w, -0.1, rtol=1e-5)  # Adam's first step is lr * sign(g)


def test_learning_rate_can_be_changed():
    opt = SGD(0.1)
    opt.learning_rate = 0.5
    w = np.ones(2)
    opt.apply_gradients([(np.ones(2), w)])
    np.testing.assert_allclose(w, 0.5)
    with pytest.raises(ValueError, match="learning_rate"):
        opt.learning_rate = -1


# ------------------------------------------------------------ bad input
@pytest.mark.parametrize("factory,match", [
    (lambda: Adam(learning_rate=-0.1), "learning_rate must be >= 0"),
    (lambda: Adam(beta_1=1.0), r"beta_1 must be in \[0, 1\)"),
    (lambda: Adam(beta_2=-0.1), r"beta_2 must be in \[0, 1\)"),
    (lambda: Adam(epsilon=-1e-7), "epsilon must be >= 0"),
    (lambda: Adam(learning_rate=float("nan")), "learning_rate must be finite"),
    (lambda: SGD(learning_rate=-1), "learning_rate must be >= 0"),
    (lambda: SGD(momentum=1.5), r"momentum must be in \[0, 1\]"),
    (lambda: SGD(momentum=-0.1), r"momentum must be in \[0, 1\]"),
])
def test_bad_hyper_parameters(factory, match):
    with pytest.raises(ValueError, match=match):
        factory()


def test_bad_hyper_parameter_types():
    with pytest.raises(TypeError, match="learning_rate"):
        Adam(learning_rate="0.1")
    with pytest.raises(TypeError, match="nesterov"):
        SGD(nesterov="yes")


def test_bad_params_and_grads():
    opt = Adam()
    p = np.zeros((2, 3))
    with pytest.raises(ValueError, match=r"grad 0 has shape \(3, 2\).*\(2, 3\)"):
        opt.apply_gradients([(np.zeros((3, 2)), p)])
    with pytest.raises(TypeError, match="param 0 must be float32 or float64.*int64"):
        opt.apply_gradients([(np.zeros(3), np.zeros(3, dtype=np.int64))])
    ro = np.zeros(3)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="param 0.*read-only"):
        opt.apply_gradients([(np.zeros(3), ro)])
    with pytest.raises(ValueError, match="param 1.*C-contiguous"):
        opt.apply_gradients([(np.zeros(2), np.zeros(2)), (np.zeros((3, 2)), p.T)])
    with pytest.raises(TypeError, match="numpy array"):
        opt.apply_gradients([(np.zeros(2), [0.0, 0.0])])
    with pytest.raises(TypeError, match=r"\(grad, param\) pairs"):
        opt.apply_gradients([np.zeros(3)])
    with pytest.raises(TypeError, match="grad 0 must be a real array"):
        opt.apply_gradients([(np.array(["a", "b"]), np.zeros(2))])
    with pytest.raises(ValueError, match="twice"):
        opt.apply_gradients([(np.zeros((2, 3)), p), (np.zeros((2, 3)), p)])
    # nothing was updated by the failed calls
    assert opt.iterations == 0
    np.testing.assert_array_equal(p, 0)


def test_get():
    assert isinstance(get("adam"), Adam) and isinstance(get("SGD"), SGD)
    opt = Adam()
    assert get(opt) is opt
    with pytest.raises(ValueError, match="Unknown optimizer 'lion'"):
        get("lion")


# Arrays whose total (> 65536 elements: the update runs on a team) the threads
# share evenly, cut inside arrays at places no chunk boundary is (the step
# kernels' work split in csrc/kernels/optim.c: OPT_FOR_CHUNKS, opt_share).
UNEVEN = [(70_001,), (5,), (3, 13_333), (129,), (33_000,), (1,), (16_385,)]


@pytest.mark.parametrize("factory", [
    lambda: Adam(), lambda: Adam(amsgrad=True, clipnorm=0.5),
    lambda: get("adamw"), lambda: SGD(momentum=0.9, clipvalue=0.1), lambda: get("rmsprop"),
    lambda: get("adagrad"), lambda: get("adadelta"), lambda: get("adamax"), lambda: get("nadam")])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_threads_share_uneven_arrays_without_changing_results(factory, dtype):
    rng = np.random.default_rng(5)
    init = [rng.standard_normal(s).astype(dtype) for s in UNEVEN]
    grads_seq = [[rng.standard_normal(s).astype(dtype) for s in UNEVEN] for _ in range(3)]
    results = []
    old = ccnn.get_num_threads()
    try:
        for n in (1, 2, 3):
            ccnn.set_num_threads(n)
            results.append(run(factory(), [p.copy() for p in init], grads_seq))
    finally:
        ccnn.set_num_threads(old)
    for one, *others in zip(*results):
        for other in others:
            np.testing.assert_array_equal(one, other)
    if dtype == np.float64:   # every element updated, none skipped by the split (float32
        for p, p0 in zip(results[0], init):   # rounds Adadelta's tiny steps away)
            assert np.all(p != p0)


def test_adam_on_uneven_arrays_matches_reference_on_a_team():
    rng = np.random.default_rng(6)
    init = [rng.standard_normal(s) for s in UNEVEN]
    grads_seq = [[rng.standard_normal(s) for s in UNEVEN] for _ in range(4)]
    old = ccnn.get_num_threads()
    try:
        ccnn.set_num_threads(2)
        got = run(Adam(), [p.copy() for p in init], grads_seq)
    finally:
        ccnn.set_num_threads(old)
    for a, b in zip(got, adam_ref(init, grads_seq)):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
