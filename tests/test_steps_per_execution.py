"""compile(steps_per_execution=N): fit runs N batches per execution, the
training plan's N steps in one C call (train_plan.train_steps), and leaves
the model exactly as N single steps leave it."""
import numpy as np
import pytest

import ccnn
from ccnn import functional as F
from ccnn.callbacks import Callback
from ccnn.layers import (BatchNormalization, Conv2D, Dense, Dropout, Flatten, MaxPooling2D,
                         RandomRotation, RandomTranslation, ReLU)
from ccnn.models import data_adapters, train_plan

from _twin import _plan_on, data  # noqa: F401 (autouse)

DTYPES = ("float32", "float64")


def book(dtype):
    return ccnn.Sequential([
        Conv2D(6, (3, 3), activation="relu", padding="same", input_shape=(12, 12, 1),
               dtype=dtype, bias_initializer="random_normal"),
        MaxPooling2D((2, 2), dtype=dtype), Flatten(dtype=dtype),
        Dense(20, activation="relu", dtype=dtype), Dropout(0.5, dtype=dtype),
        Dense(10, activation="softmax", dtype=dtype)])


def bn(dtype):
    return ccnn.Sequential([
        Conv2D(4, 3, use_bias=False, input_shape=(8, 8, 1), dtype=dtype),
        BatchNormalization(dtype=dtype), ReLU(dtype=dtype), Flatten(dtype=dtype),
        Dropout(0.3, dtype=dtype), Dense(16, dtype=dtype),
        BatchNormalization(momentum=0.7, dtype=dtype), ReLU(dtype=dtype),
        Dense(5, activation="softmax", dtype=dtype)])


def translated(dtype, seed=None, rotate=False):
    """The modern model's shape: random shifts (the leading step run in Python
    before each step of the C call), Conv-BN-ReLU, Dropout."""
    lead = [RandomTranslation(0.1, 0.2, seed=seed, input_shape=(12, 12, 1), dtype=dtype)]
    if rotate:
        lead.append(RandomRotation(0.1, fill_mode="nearest", dtype=dtype))
    return ccnn.Sequential(lead + [
        Conv2D(4, 3, padding="same", use_bias=False, dtype=dtype),
        BatchNormalization(dtype=dtype), ReLU(dtype=dtype), MaxPooling2D(dtype=dtype),
        Flatten(dtype=dtype), Dropout(0.5, dtype=dtype),
        Dense(10, activation="softmax", dtype=dtype)])


def translated_seeded(dtype):
    return translated(dtype, seed=11)


def translated_rotated(dtype):
    return translated(dtype, rotate=True)


class Hooks(Callback):
    def __init__(self):
        super().__init__()
        self.calls = []

    def on_train_batch_begin(self, batch, logs=None):
        self.calls.append(("begin", batch))

    def on_train_batch_end(self, batch, logs=None):
        self.calls.append(("end", batch, dict(logs)))


@pytest.fixture
def multi_calls(monkeypatch):
    """How many times fit ran several steps in one C call."""
    count = [0]
    orig = F.plan_train_steps_unchecked

    def counted(*args, **kw):
        count[0] += 1
        return orig(*args, **kw)
    monkeypatch.setattr(F, "plan_train_steps_unchecked", counted)
    return count


def train(builder, dtype, spe, n=150, batch=16, epochs=2, metrics=("accuracy",),
          optimizer="adam", x=None, shuffle=True, sparse=True, **fit_kw):
    ccnn.utils.set_random_seed(3)
    m = builder(dtype)
    m.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy" if sparse
              else "categorical_crossentropy", metrics=list(metrics), steps_per_execution=spe)
    xd, y = data(m, n, sparse=sparse, seed=1)
    x = xd if x is None else x
    hooks = Hooks()
    h = m.fit(x, y, batch_size=batch, epochs=epochs, verbose=0, callbacks=[hooks],
              shuffle=shuffle, **fit_kw)
    return {"model": m, "history": h.history, "hooks": hooks.calls,
            "rng": ccnn.utils.get_rng().bit_generator.state}


def assert_same_state(a, b):
    assert repr(a["history"]) == repr(b["history"])      # (NaN too; repr is exact)
    assert a["rng"] == b["rng"]
    ma, mb = a["model"], b["model"]
    for la, lb in zip(ma.layers, mb.layers):
        for d in ("params", "states", "grads"):
            da, db = getattr(la, d), getattr(lb, d)
            assert da.keys() == db.keys()
            for k in da:
                assert da[k].dtype == db[k].dtype and da[k].shape == db[k].shape \
                    and da[k].tobytes() == db[k].tobytes(), (la.name, k)
        if type(la) is Dropout:
            assert la.mask.tobytes() == lb.mask.tobytes()
    oa, ob = ma.optimizer, mb.optimizer
    assert oa.iterations == ob.iterations and oa._step_lr == ob._step_lr
    assert len(oa.variables) == len(ob.variables) > 0
    assert all(p.dtype == q.dtype and p.tobytes() == q.tobytes()
               for p, q in zip(oa.variables, ob.variables))
    for x, y in zip(ma._compiled_metrics(), mb._compiled_metrics()):
        if isinstance(x, tuple):        # a functional model's (name, metric, output, kind)
            x, y = x[1], y[1]
        assert repr(x.result()) == repr(y.result())


@pytest.mark.parametrize("builder", [book, bn, translated, translated_seeded,
                                     translated_rotated])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("spe,n", [(3, 150), (4, 160), (50, 150), (50, 160)])
@pytest.mark.parametrize("shuffle", [True, False])
def test_bit_identical_to_one_step_per_execution(builder, dtype, spe, n, shuffle, multi_calls):
    # 150 rows: 10 batches, the last of 6 (a partial batch); 160: 10 full batches,
    # the last execution of 2 (steps % N != 0); 50: longer than the epoch (with 150, its
    # first 9 batches in one call, the partial one alone).  Leading augmentations:
    # each step's shifts drawn (its images resampled) before its Dropout seeds
    one = train(builder, dtype, 1, n=n, shuffle=shuffle)
    assert multi_calls[0] == 0
    many = train(builder, dtype, spe, n=n, shuffle=shuffle)
    assert multi_calls[0] > 0
    assert_same_state(one, many)
    for la, lb in zip(one["model"].layers, many["model"].layers):
        if getattr(la, "rng", None) is not None:      # a seeded layer's own generator
            assert la.rng.bit_generator.state == lb.rng.bit_generator.state


@pytest.fixture
def c_calls(monkeypatch):
    """What each multi-step C call was given: (rows of x, row index or None,
    first, batch, whether the targets are the whole array's rows)."""
    calls = []
    orig = F.plan_train_steps_unchecked

    def spy(*args, **kw):
        x, rows, first, batch, whole = args[3], args[-4], args[-3], args[-2], args[-1]
        calls.append((x.shape[0], None if rows is None else rows.copy(), first, batch, whole))
        return orig(*args, **kw)
    monkeypatch.setattr(F, "plan_train_steps_unchecked", spy)
    return calls


@pytest.mark.parametrize("shuffle", [True, False])
def test_the_c_call_takes_the_whole_arrays_and_the_rows(shuffle, c_calls):
    # no N * batch block: the whole x (150 rows), the epoch permutation's slice
    # (shuffled) or the first row (not), sparse labels taken as the rows of y too
    train(book, "float32", 4, n=150, shuffle=shuffle, epochs=1)
    assert c_calls and all(c[0] == 150 and c[3] == 16 and c[4] for c in c_calls)
    if shuffle:
        rows = np.concatenate([c[1] for c in c_calls])
        assert all(c[1].dtype == np.int64 and c[1].size % 16 == 0 for c in c_calls)
        assert len(set(rows.tolist())) == rows.size and rows.min() >= 0 and rows.max() < 150
    else:
        assert all(c[1] is None for c in c_calls)
        # the first execution's first step alone (Adam's state), then steps 1..3, 4..7, 8
        assert [c[2] for c in c_calls] == [16, 64]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shuffle", [True, False])
def test_one_hot_targets_bit_identical(dtype, shuffle, c_calls):
    # categorical_crossentropy: the plan's float targets, per step (the loss's own
    # conversion of each batch's rows), x's rows gathered in C
    # (no metric)
    one = train(book, dtype, 1, n=150, shuffle=shuffle, sparse=False, metrics=())
    assert not c_calls
    many = train(book, dtype, 4, n=150, shuffle=shuffle, sparse=False, metrics=())
    assert c_calls and all(c[0] == 150 and not c[4] for c in c_calls)
    assert_same_state(one, many)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("sparse", [True, False])
def test_bit_identical_to_the_block_path(dtype, sparse, monkeypatch, c_calls):
    # the execution's rows gathered in Python into one block (as before; the path
    # an x the C call cannot take keeps) give the same state bit for bit
    metrics = ("accuracy",) if sparse else ()
    rows_path = train(bn, dtype, 4, n=150, sparse=sparse, metrics=metrics)
    assert c_calls and all(c[0] == 150 for c in c_calls)
    del c_calls[:]
    monkeypatch.setattr(train_plan, "_whole_rows", lambda plan, e: None)
    block_path = train(bn, dtype, 4, n=150, sparse=sparse, metrics=metrics)
    assert c_calls and all(c[0] == 64 or c[0] == 48 for c in c_calls)
    assert all(c[1] is None and c[2] == 0 and not c[4] for c in c_calls)
    assert_same_state(rows_path, block_path)


def trained_plan():
    """A float64 book model after one train_on_batch of 8 (its plan and
    Adam's state made), 24 rows of data: (m, x, y, plan, its optimizer
    record, its Dropouts' seed rows)."""
    ccnn.utils.set_random_seed(0)
    m = book("float64")
    m.compile("adam", "sparse_categorical_crossentropy")
    x, y = data(m, 24)
    x = x.astype(np.float64)
    m.train_on_batch(x[:8], y[:8])          # the plan and Adam's state
    plan = next(iter(m.__dict__["_train_plans"].plans.values()))
    rec = train_plan._opt_record(plan, m.layers, m.optimizer)
    seed_rows = np.array([r for r, _, _, _ in plan.dropouts], dtype=np.int64)
    return m, x, y, plan, rec, seed_rows


def test_out_of_range_rows_are_refused_before_anything_runs():
    from ccnn import _plan
    m, x, y, plan, rec, seed_rows = trained_plan()
    before = [p.tobytes() for layer in m.layers for p in layer.params.values()]
    state = [v.tobytes() for v in m.optimizer.variables]

    def call(rows, first=0, targets_rows=True, x=x, y=y, batch=8):
        return _plan.plan_train_steps(plan.code, plan.reals, plan.ptrs, x, plan.out, y,
                                      *plan.nbytes, 1, rec.code, np.zeros((2, 8)),
                                      np.zeros((2, 1), np.uint64), seed_rows, None,
                                      np.zeros((0, 3), np.int64), None, 10, rows, first, batch,
                                      targets_rows)
    ok = np.arange(16, dtype=np.int64)
    for k, v in ((15, 24), (15, 10 ** 12), (0, -1), (7, -(2 ** 63)), (3, 2 ** 63 - 1)):
        bad = ok.copy()
        bad[k] = v
        with pytest.raises(ValueError, match=rf"rows\[{k}\] = {v} is not a row of x"):
            call(bad)
    for first in (-1, 9, 24, 2 ** 62):
        with pytest.raises(ValueError, match=f"first = {first}"):
            call(None, first)
    for bad in (dict(rows=ok[:15]), dict(rows=ok[:8].repeat(3))):
        with pytest.raises(ValueError, match="rows must hold 16"):
            call(**bad)
    for bad in (dict(rows=None, batch=7), dict(rows=None, batch=0),
                dict(rows=ok, x=x[:, :5]), dict(rows=ok, y=y[:20]),
                dict(rows=ok, targets_rows=False)):
        with pytest.raises(ValueError):
            call(**bad)
    # nothing ran: the weights and Adam's state as they were
    assert before == [p.tobytes() for layer in m.layers for p in layer.params.values()]
    assert state == [v.tobytes() for v in m.optimizer.variables]
    assert call(ok[::-1].copy()) == (2, True)
    assert call(None, 8) == (2, True)
    assert before != [p.tobytes() for layer in m.layers for p in layer.params.values()]


def test_the_executions_gather_nothing():
    x = np.arange(50 * 3, dtype=np.float32).reshape(50, 3)
    y = np.arange(50)
    a = data_adapters.ArrayAdapter(x, y, 8)
    ccnn.utils.set_random_seed(4)
    execs = list(a.executions(True, 3))
    ccnn.utils.set_random_seed(4)
    batches = list(a.epoch(True))
    assert [len(e) for e in execs] == [3, 3, 1] and [e.full() for e in execs] == [3, 3, 0]
    assert all(e.rows.base is execs[0].rows.base for e in execs)     # the permutation's slices
    got = [b for e in execs for b in (e[i] for i in range(len(e)))]
    assert len(got) == len(batches)
    for (xa, ya, _), (xb, yb, _) in zip(got, batches):
        assert np.array_equal(xa, xb) and np.array_equal(ya, yb)
    part = execs[1].steps(1, 3)
    assert len(part) == 2 and np.array_equal(part.rows, execs[1].rows[8:24])
    plain = list(a.executions(False, 4))
    assert [(e.rows, e.first, e.count) for e in plain] == [(None, 0, 32), (None, 32, 18)]
    assert plain[1].steps(1, 3).first == 40 and plain[1].steps(1, 3).count == 10
    assert np.array_equal(plain[1][2][0], x[48:50])
    with pytest.raises(IndexError):
        plain[1][3]


@pytest.mark.parametrize("metrics", [(), ("accuracy", "sparse_categorical_accuracy")])
def test_without_and_with_several_accuracies(metrics, multi_calls):
    one = train(book, "float32", 1, metrics=metrics)
    many = train(book, "float32", 4, metrics=metrics)
    assert multi_calls[0] > 0
    assert_same_state(one, many)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("metrics", [("accuracy",), ("categorical_accuracy", "accuracy")])
def test_one_hot_targets_with_accuracy_in_one_call(dtype, metrics, multi_calls):
    # categorical cross-entropy on one-hot targets with accuracy (as `ccnn train`
    # compiles its models): the hits are counted in the C call against the
    # targets' argmax, as Trainer._correct counts them step by step
    one = train(book, dtype, 1, n=150, sparse=False, metrics=metrics)
    assert multi_calls[0] == 0
    many = train(book, dtype, 4, n=150, sparse=False, metrics=metrics)
    assert multi_calls[0] > 0
    assert_same_state(one, many)
    assert "accuracy" in many["history"]


def test_one_hot_hits_labels_checked_by_the_binding():
    from ccnn import _plan
    opt = np.zeros(22, np.int64)
    opt[1] = 1
    with pytest.raises(ValueError, match="labels"):
        # labels without hits: refused before any kernel runs
        _plan.plan_train_steps(np.zeros((1, _plan.TRAIN_FIELDS), np.int64),
                               np.zeros((1, _plan.TRAIN_REALS)), np.zeros(3, np.int64),
                               np.zeros((2, 4), np.float32), np.zeros((2, 3), np.float32),
                               np.zeros((2, 3), np.float32), 32, 24, 24, 1,
                               opt, np.zeros((1, 8)),
                               np.zeros((1, 0), np.uint64), np.zeros(0, np.int64), None,
                               np.zeros((0, 3), np.int64), None, 3, None, 0, 2, False,
                               labels=np.zeros(2, np.int64))


def test_a_learning_rate_schedule_and_weight_decay(multi_calls):
    def opt():
        sched = ccnn.optimizers.schedules.ExponentialDecay(0.01, decay_steps=3, decay_rate=0.5)
        return ccnn.optimizers.AdamW(learning_rate=sched, weight_decay=0.01)
    one = train(book, "float64", 1, optimizer=opt())
    many = train(book, "float64", 3, optimizer=opt())
    assert multi_calls[0] > 0
    assert_same_state(one, many)


def test_the_hooks_run_once_per_execution_with_its_first_and_last_step():
    # Keras 3 (epoch_iterator): on_train_batch_begin(first step of the execution),
    # on_train_batch_end(its last step, the logs after it); ccnn's last execution
    # ends at the epoch's last step
    one = train(book, "float32", 1, n=160, epochs=1)
    many = train(book, "float32", 4, n=160, epochs=1)
    assert [c[:2] for c in many["hooks"]] == [("begin", 0), ("end", 3), ("begin", 4),
                                              ("end", 7), ("begin", 8), ("end", 9)]
    ends = {c[1]: c[2] for c in one["hooks"] if c[0] == "end"}
    for c in many["hooks"]:
        if c[0] == "end":
            assert c[2] == ends[c[1]]


def test_other_metrics_and_sample_weights_run_step_by_step(multi_calls):
    one = train(book, "float32", 1, metrics=("accuracy", "sparse_categorical_crossentropy"))
    many = train(book, "float32", 3, metrics=("accuracy", "sparse_categorical_crossentropy"))
    assert_same_state(one, many)
    sw = np.linspace(0.5, 1.5, 150)
    one = train(book, "float32", 1, sample_weight=sw)
    many = train(book, "float32", 3, sample_weight=sw)
    assert_same_state(one, many)
    assert multi_calls[0] == 0


@pytest.mark.parametrize("clip", [{"clipnorm": 0.05}, {"global_clipnorm": 0.05}])
def test_norm_clipping_runs_step_by_step(clip, multi_calls):
    """Norm clipping is a pass of its own: no multi-step call, the same state."""
    one = train(book, "float32", 1, optimizer=ccnn.optimizers.Adam(**clip))
    many = train(book, "float32", 4, optimizer=ccnn.optimizers.Adam(**clip))
    assert_same_state(one, many)
    assert multi_calls[0] == 0


def test_the_plan_off_gives_the_same_state():
    train_plan.set_enabled(False)
    one = train(book, "float32", 1)
    many = train(book, "float32", 3)
    train_plan.set_enabled(True)
    assert_same_state(one, many)


@pytest.mark.parametrize("builder", [book, translated])
def test_a_nan_batch_stops_at_its_step(builder, multi_calls):
    # (the draws of the steps not run -- the shifts too -- given back)
    ccnn.utils.set_random_seed(3)
    x, _ = data(builder("float32"), 160, seed=1)
    x = x.copy()
    x[16 * 5 + 2] = np.nan                    # batch 5 (no shuffle): NaN wherever it shifts
    with pytest.warns(RuntimeWarning, match="step 6/10"):
        one = train(builder, "float32", 1, n=160, x=x, shuffle=False)
    with pytest.warns(RuntimeWarning, match="step 6/10"):
        many = train(builder, "float32", 4, n=160, x=x, shuffle=False)
    assert multi_calls[0] > 0
    assert one["model"].optimizer.iterations == 5
    assert many["hooks"][-1][:2] == ("end", 5)
    assert_same_state(one, many)


@pytest.mark.parametrize("bad", [0, -2, 1.5, True, "4", None])
def test_bad_steps_per_execution(bad):
    m = book("float32")
    with pytest.raises(ValueError, match="steps_per_execution"):
        m.compile("adam", "sparse_categorical_crossentropy", steps_per_execution=bad)


def test_the_compile_config_keeps_it(tmp_path):
    m = book("float32")
    m.compile("adam", "sparse_categorical_crossentropy", steps_per_execution=7)
    assert m.get_compile_config()["steps_per_execution"] == 7
    for name in ("m.ccnn", "m.keras"):
        m.save(tmp_path / name)
        again = ccnn.models.load_model(tmp_path / name)
        assert again.steps_per_execution == 7
    m2 = book("float32")
    m2.compile_from_config(m.get_compile_config())
    assert m2.steps_per_execution == 7


def test_the_readme_example_runs(capsys, multi_calls):
    from test_readme import README, python_blocks, run_block
    blocks = [b for b in python_blocks(README, "Performance") if "steps_per_execution=10" in b]
    assert len(blocks) == 1
    scope = run_block(blocks[0], "README.md")
    assert capsys.readouterr().out.strip() == "10"
    assert scope["model"].optimizer.iterations == 40
    assert multi_calls[0] == 4      # the first after one step of its own (Adam's state)


def test_the_binding_checks_the_buffers():
    from ccnn import _plan
    ccnn.utils.set_random_seed(0)
    m = book("float32")
    m.compile("adam", "sparse_categorical_crossentropy")
    x, y = data(m, 24)
    m.train_on_batch(x[:8], y[:8])          # the plan and Adam's state
    plan = next(iter(m.__dict__["_train_plans"].plans.values()))
    rec = train_plan._opt_record(plan, m.layers, m.optimizer)
    seed_rows = np.array([r for r, _, _, _ in plan.dropouts], dtype=np.int64)

    def call(x=x, y=y, optreals=np.zeros((3, 8)), seeds=np.zeros((3, 1), np.uint64),
             decays=None, snaps=np.zeros((0, 3), np.int64), hits=np.zeros(3, np.int64),
             classes=10, out=plan.out):
        return _plan.plan_train_steps(plan.code, plan.reals, plan.ptrs, x, out, y,
                                      *plan.nbytes, 1, rec.code, optreals, seeds, seed_rows,
                                      decays, snaps, hits, classes, None, 0, 8, False)
    for bad in (dict(x=x[:16]), dict(y=y[:16]), dict(x=x.astype(np.float64)),
                dict(y=y.astype(np.int32)), dict(optreals=np.zeros((3, 4))),
                dict(seeds=np.zeros((2, 1), np.uint64)), dict(seeds=np.zeros((3, 2), np.uint64)),
                dict(decays=np.zeros((3, 1))), dict(snaps=np.zeros((1, 2), np.int64)),
                dict(hits=np.zeros(2, np.int64)), dict(classes=9),
                dict(out=plan.out.astype(np.float64))):
        with pytest.raises(ValueError):
            call(**bad)
    assert call() == (3, True)


@pytest.mark.parametrize("dtype", DTYPES)
def test_a_generator_of_batches(dtype, multi_calls):
    def run(spe):
        ccnn.utils.set_random_seed(3)
        m = book(dtype)
        m.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"],
                  steps_per_execution=spe)
        x, y = data(m, 160, seed=1)

        def batches():
            while True:
                for i in range(0, 160, 16):
                    yield x[i:i + 16], y[i:i + 16]
        h = m.fit(batches(), steps_per_epoch=10, epochs=2, verbose=0)
        return {"model": m, "history": h.history, "rng": ccnn.utils.get_rng().bit_generator.state}
    one = run(1)
    assert multi_calls[0] == 0
    many = run(4)
    assert multi_calls[0] > 0
    assert_same_state(one, many)


def test_a_functional_model_runs_step_by_step(multi_calls):
    def graph(dtype):
        inp = ccnn.Input((12, 12, 1))
        h = Flatten()(MaxPooling2D(2)(Conv2D(4, 3, activation="relu")(inp)))
        return ccnn.Model(inp, Dense(10, activation="softmax")(Dropout(0.2)(h)))
    one = train(graph, "float32", 1)
    many = train(graph, "float32", 3)
    assert multi_calls[0] == 0
    assert_same_state(one, many)
    assert [c[:2] for c in many["hooks"]][:4] == [("begin", 0), ("end", 2), ("begin", 3),
                                                  ("end", 5)]
