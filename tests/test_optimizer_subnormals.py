"""Optimizer state that decays toward zero where the gradient stays zero (a dead
ReLU unit's weights) must not linger as subnormal numbers: on x86 the update
kernels run with flush-to-zero / denormals-are-zero (csrc/kernels/optim.c),
restored afterwards, so the state becomes exactly 0 and the parameters stay
where a NumPy transcription of the formula puts them."""
import platform

import numpy as np
import pytest

import ccnn.optimizers as O

X86 = platform.machine().lower() in ("x86_64", "amd64", "i386", "i686")
TINY = np.finfo(np.float32).tiny


def subnormals(a):
    return int(np.count_nonzero((a != 0) & (np.abs(a) < np.finfo(a.dtype).tiny)))


def adam_reference(p, grads, lr=1e-3, b1=0.9, b2=0.999, eps=1e-7):
    """Keras 3's Adam in float64 (no flushing)."""
    p = p.astype(np.float64)
    m = np.zeros_like(p)
    v = np.zeros_like(p)
    for t, g in enumerate(grads, 1):
        lr_t = lr * np.sqrt(1 - b2 ** t) / (1 - b1 ** t)
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        p = p - lr_t * m / (np.sqrt(v) + eps)
    return p, m


@pytest.mark.parametrize("kind,kwargs", [
    ("adam", {}), ("adam", dict(amsgrad=True)), ("adamw", {}), ("nadam", {}),
    ("adamax", {}), ("sgd", dict(momentum=0.9)), ("sgd", dict(momentum=0.9, nesterov=True)),
    ("rmsprop", dict(momentum=0.9))])
def test_decayed_state_leaves_no_subnormals(kind, kwargs):
    opt = getattr(O, {"adam": "Adam", "adamw": "AdamW", "nadam": "Nadam", "adamax": "Adamax",
                      "sgd": "SGD", "rmsprop": "RMSprop"}[kind])(**kwargs)
    rng = np.random.default_rng(7)
    p = rng.standard_normal(300).astype(np.float32)
    g = (rng.standard_normal(300) * 1e-3).astype(np.float32)
    zero = np.zeros_like(g)
    opt.apply_gradients([(g, p)])
    for _ in range(1200):      # 0.9**1200 * 1e-4 is far below float32's smallest normal
        opt.apply_gradients([(zero, p)])
    assert np.all(np.isfinite(p))
    if X86:
        for state in opt.variables:
            assert subnormals(state) == 0, f"{kind}: subnormal state left"


def test_adam_flushed_state_matches_the_unflushed_formula():
    rng = np.random.default_rng(3)
    p0 = rng.standard_normal(500).astype(np.float32)
    g0 = (rng.standard_normal(500) * 1e-3).astype(np.float32)
    grads = [g0] + [np.zeros_like(g0)] * 1000
    want, m_ref = adam_reference(p0, grads)
    assert np.any((m_ref != 0) & (np.abs(m_ref) < TINY))   # the reference reached the range
    opt = O.Adam()
    p = p0.copy()
    for g in grads:
        opt.apply_gradients([(g, p)])
    np.testing.assert_allclose(p, want, rtol=1e-5, atol=1e-6)
    if X86:
        assert subnormals(opt.variables[0]) == 0


def test_the_callers_floating_point_mode_is_restored():
    opt = O.Adam()
    p = np.ones(70000, np.float32)          # large enough for the threaded path
    opt.apply_gradients([(np.full_like(p, 1e-3), p)])
    opt.apply_gradients([(np.zeros_like(p), p)])
    # subnormal arithmetic still works in this thread after the kernel ran
    tiny = np.float32(TINY)
    half = np.multiply(tiny, np.float32(0.5))
    assert half != 0 and subnormals(np.array([half])) == 1
    assert np.add(half, np.float32(0)) == half
