"""compile(steps_per_execution=N) under DataParallel: N steps in one C call
(plan_train_steps), each step's all-reduce run from inside the call through
its reduce callback (ccnn.models.train_plan.train_steps with a reducer).

The reference: the same DataParallel fit at steps_per_execution=1 (one
train_step per batch, run_plan's reducer path), which must give the same
bits -- weights (the moving statistics among them), optimizer state,
History, the random generator's state -- on both ranks."""
import json
import textwrap

import numpy as np
import pytest

from test_distribution import run_mpi

pytest.importorskip("mpi4py")


FITS = textwrap.dedent('''
    import hashlib
    import warnings
    from mpi4py import MPI
    from ccnn import functional as F
    from ccnn.layers import Dropout

    def digest(arrays):
        return [hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest() for a in arrays]

    class Rng(Callback):
        """The generator fit draws Dropout masks from, at each epoch's end."""
        def __init__(self):
            super().__init__()
            self.states = []
        def on_epoch_end(self, epoch, logs=None):
            self.states.append(str(utils.get_rng().bit_generator.state))

    def model(dtype, bn, dropout, opt):
        layers = [ccnn.Input((28, 28, 1)), Conv2D(6, 3, activation="relu", padding="same",
                  dtype=dtype), MaxPooling2D(2, dtype=dtype)]
        layers += [BatchNormalization(dtype=dtype)] if bn else []
        layers += [Flatten(dtype=dtype)] + ([Dropout(0.3, dtype=dtype)] if dropout else [])
        layers += [Dense(32, activation="relu", dtype=dtype),
                   Dense(10, activation="softmax", dtype=dtype)]
        return ccnn.Sequential(layers)

    calls = []          # (steps, with a reduce) of each multi-step call
    _orig = F.plan_train_steps_unchecked
    def _spy(*a, **k):
        out = _orig(*a, **k)
        calls.append((int(out[0]), k.get("reduce") is not None))
        return out
    F.plan_train_steps_unchecked = _spy

    def fit(dtype, bn, dropout, opt, batch, n, spe, epochs=2, nan_at=None, shuffle=True):
        x, y = data(n, dtype)
        if nan_at is not None:
            x[nan_at] = np.nan
        utils.set_random_seed(5)
        m = model(dtype, bn, dropout, opt)
        m.compile(optimizer=opt, loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                  steps_per_execution=spe)
        rng = Rng()
        del calls[:]
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            with DataParallel() as dp:
                h = m.fit(x, y, batch_size=batch, epochs=epochs, verbose=0, callbacks=[rng],
                          terminate_on_nan=nan_at is not None, shuffle=shuffle and nan_at is None)
        return {"weights": digest(m.weights), "opt": digest(m.optimizer.variables),
                "history": h.history, "steps": dp.allreduce_steps, "rng": rng.states,
                "after": str(utils.get_rng().bit_generator.state),
                "iterations": int(m.optimizer.iterations),
                "multi": sum(s for s, r in calls if r),
                "warned": sum("terminating training" in str(x.message) for x in w)}
''')

KEYS = ("weights", "opt", "history", "steps", "rng", "after", "iterations")


def _same_bits(a, b, keys=KEYS):
    for k in keys:
        assert a[k] == b[k], k


def _same_replicas(a, b):
    """The two ranks' replicas (their Dropout generators differ by design)."""
    _same_bits(a, b, tuple(k for k in KEYS if k != "rng"))


def _ranks(tmp_path, code, timeout=240):
    run_mpi(tmp_path, FITS + textwrap.dedent(code), timeout=timeout)
    return [json.loads((tmp_path / f"r{r}.json").read_text()) for r in (0, 1)]


@pytest.mark.parametrize("dtype,bn,opt,batch,n,spe", [
    # an even split (shards of 16), a last global batch of 10 in the last execution
    ("float32", True, "adam", 32, 330, 4),
    # an uneven split (16 and 15), the last batch 7 (4 and 3): weighted before the sum
    ("float64", False, "sgd", 31, 317, 3),
    ("float32", False, "rmsprop", 33, 330, 5),
])
def test_steps_per_execution_gives_the_bits_of_one_step_per_call(tmp_path, dtype, bn, opt,
                                                                   batch, n, spe):
    """Dropout on: N steps per call end with the weights, BN statistics,
    optimizer state, History and random state of one step per call, bit for
    bit, on both ranks -- and the steps ran in the multi-step call."""
    ranks = _ranks(tmp_path, f'''
        cfg = ("{dtype}", {bn}, True, "{opt}", {batch}, {n})
        runs = {{"one": fit(*cfg, spe=1), "many": fit(*cfg, spe={spe})}}
        json.dump(runs, open(f"r{{MPI.COMM_WORLD.Get_rank()}}.json", "w"))
    ''')
    steps = n // batch + (n % batch >= 2)
    for runs in ranks:
        assert runs["one"]["steps"] == 2 * steps and runs["one"]["multi"] == 0
        # the first step of the first execution runs alone (the optimizer's
        # state is made by its first update), and the partial last batch
        assert runs["many"]["multi"] >= 2 * steps - 2 - 2 * -(-steps // spe)
        assert runs["many"]["iterations"] == 2 * steps
        _same_bits(runs["one"], runs["many"])
    _same_replicas(ranks[0]["many"], ranks[1]["many"])


def test_a_nan_stops_both_ranks_at_the_same_step_inside_a_call(tmp_path):
    """A NaN in one sample of rank 1's shard of step 5 (the second step of
    the second call at N = 4): with terminate_on_nan both ranks refuse that
    update (the check on the summed gradients and loss), stop there and end
    as the fit at N = 1 ends."""
    ranks = _ranks(tmp_path, '''
        cfg = ("float32", True, True, "adam", 32, 320)
        runs = {"one": fit(*cfg, spe=1, nan_at=5 * 32 + 20),
                "many": fit(*cfg, spe=4, nan_at=5 * 32 + 20)}
        json.dump(runs, open(f"r{MPI.COMM_WORLD.Get_rank()}.json", "w"))
    ''')
    for runs in ranks:
        for r in runs.values():
            assert r["steps"] == 6 and r["iterations"] == 5 and r["warned"] == 1
            assert len(r["history"]["loss"]) == 1
        assert runs["many"]["multi"] == 3 + 2       # steps 1-3, then 4 and 5
        _same_bits(runs["one"], runs["many"])
    _same_replicas(ranks[0]["many"], ranks[1]["many"])


def test_an_error_in_the_reduce_callback_ends_every_rank(tmp_path):
    """rank 1's all-reduce raises inside the multi-step call: the C call
    stops, the exception reaches the `with DataParallel()` block, which
    prints it with the rank and aborts both ranks (no hang)."""
    r = run_mpi(tmp_path, FITS + textwrap.dedent('''
        from ccnn.distribution import data_parallel as dpm
        _reduce = dpm.DataParallel.reduce_plan
        def failing(self, loss):
            if self.rank == 1 and self.allreduce_steps == 3:
                raise RuntimeError("boom in the reducer")
            return _reduce(self, loss)
        dpm.DataParallel.reduce_plan = failing
        fit("float32", False, True, "adam", 32, 320, spe=4)
    '''), timeout=120, check=False)
    assert r.returncode != 0
    assert "rank 1 of 2 failed: RuntimeError: boom in the reducer" in r.stderr
    assert "reached the end" not in r.stdout


def test_an_error_in_the_reduce_callback_reaches_the_caller_on_one_rank():
    """Without mpiexec (one rank) the exception the reducer raises inside the
    C call comes out of fit, and the model trains on afterwards."""
    from ccnn import utils
    from ccnn.distribution import data_parallel as dpm
    from ccnn.distribution import DataParallel
    from test_distribution import _load_prelude

    ns = _load_prelude()
    x, y = ns["data"](256)
    utils.set_random_seed(3)
    m = ns["book"](dropout=True)
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy", steps_per_execution=4)
    seen = []

    def failing(self, loss):
        seen.append(loss)
        if len(seen) == 3:
            raise KeyError("the reducer's own error")
        return orig(self, loss)

    orig = dpm.DataParallel.reduce_plan
    dpm.DataParallel.reduce_plan = failing
    try:
        with pytest.raises(KeyError, match="the reducer's own error"):
            with DataParallel():
                m.fit(x, y, batch_size=32, epochs=1, verbose=0)
    finally:
        dpm.DataParallel.reduce_plan = orig
    assert len(seen) == 3
    with DataParallel():
        h = m.fit(x, y, batch_size=32, epochs=1, verbose=0)
    assert np.isfinite(h.history["loss"][0])


def test_the_reduce_callback_runs_between_each_backward_and_its_update():
    """The binding's reduce(i) runs once per step, in order, with the GIL
    (it can read the arrays); one that raises stops the call before that
    step's update (the optimizer's state as the callback saw it) and the
    exception comes out of the call; a reduce that is not callable is refused."""
    from ccnn import _plan
    from test_steps_per_execution import trained_plan

    m, x, y, plan, rec, seed_rows = trained_plan()
    optreals = np.zeros((3, 8))
    optreals[:, 1:5] = (1e-3, 0.9, 0.999, 1e-7)       # Adam's lr_t, beta1, beta2, eps

    def call(reduce):
        return _plan.plan_train_steps(plan.code, plan.reals, plan.ptrs, x, plan.out, y,
                                      *plan.nbytes, 1, rec.code, optreals,
                                      np.zeros((3, len(seed_rows)), np.uint64), seed_rows,
                                      None, np.zeros((0, 3), np.int64), None, 10, None, 0, 8,
                                      True, reduce)
    seen = []

    def state():
        return [v.tobytes() for v in m.optimizer.variables]
    assert call(lambda i: seen.append((i, state()))) == (3, True)
    assert [i for i, _ in seen] == [0, 1, 2]
    assert seen[0][1] != seen[1][1] != seen[2][1]       # an update between each two

    seen.clear()

    def failing(i):
        seen.append((i, state()))
        if i == 1:
            raise OverflowError("from the reducer")
    with pytest.raises(OverflowError, match="from the reducer"):
        call(failing)
    assert [i for i, _ in seen] == [0, 1] and state() == seen[1][1]
    with pytest.raises(TypeError, match="reduce must be callable"):
        call(3)


@pytest.mark.parametrize("dtype,batch,n,spe,shuffle", [
    ("float32", 32, 330, 4, True),      # even shards; a last global batch of 10
    ("float64", 31, 311, 3, True),      # uneven shards (16 and 15); a last batch of 1: dropped
    ("float32", 31, 311, 3, False),     # unshuffled: the adapter's rows as slices
])
def test_rank_executions_give_the_bits_of_gathered_batches(tmp_path, dtype, batch, n, spe,
                                                            shuffle):
    """With arrays and steps_per_execution > 1 each rank's execution is an
    Execution of its rows (DataParallel._rank_executions: the plan gathers
    them) -- the same bits, on both ranks, as shard's gathered batches in
    lists (CCNN_DP_EXEC=0), and it is the path taken."""
    ranks = _ranks(tmp_path, f'''
        from ccnn.distribution import data_parallel as dpm
        made = []
        _orig_exec = dpm.DataParallel._rank_executions
        def _count(self, *a):
            for e in _orig_exec(self, *a):
                made.append(e.count)
                yield e
        dpm.DataParallel._rank_executions = _count
        cfg = ("{dtype}", True, True, "adam", {batch}, {n})
        runs = {{"rows": fit(*cfg, spe={spe}, shuffle={shuffle})}}
        runs["rows"]["made"] = list(made)
        dpm._exec_switch.set(False)
        del made[:]
        runs["lists"] = fit(*cfg, spe={spe}, shuffle={shuffle})
        runs["lists"]["made"] = list(made)
        json.dump(runs, open(f"r{{MPI.COMM_WORLD.Get_rank()}}.json", "w"))
    ''')
    whole = n // batch * batch + (n % batch if n % batch >= 2 else 0)
    for r, runs in enumerate(ranks):
        assert runs["lists"]["made"] == []
        # every sample of the kept batches, once per epoch, in this rank's share
        sizes = [min(batch, whole - s) for s in range(0, whole, batch)]
        mine = sum((m + 1) // 2 if r == 0 else m // 2 for m in sizes)
        assert sum(runs["rows"]["made"]) == 2 * mine
        _same_bits(runs["rows"], runs["lists"])
    _same_replicas(ranks[0]["rows"], ranks[1]["rows"])


def test_drawing_from_swaps_the_generator_in_and_back_however_the_block_ends():
    import numpy as np
    from ccnn import utils
    from ccnn.distribution.data_parallel import _drawing_from
    before = utils.get_rng()
    mine = np.random.default_rng(5)
    with _drawing_from(mine):
        assert utils.get_rng() is mine
        drawn = utils.get_rng().integers(1 << 30)
    assert utils.get_rng() is before and drawn == np.random.default_rng(5).integers(1 << 30)
    with _drawing_from(None):
        assert utils.get_rng() is before
    try:
        with _drawing_from(mine):
            raise KeyError("x")
    except KeyError:
        pass
    assert utils.get_rng() is before
