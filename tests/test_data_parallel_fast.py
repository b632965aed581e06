"""DataParallel's fast step: the training plan writes the gradients into the
all-reduce buffer, MPI's Allreduce sums it in place and the optimizer's
update is one C call (ccnn.distribution.data_parallel,
ccnn.models.train_plan.run_plan).

The reference: the per-layer reduce_gradients + apply_gradients step
(CCNN_DP_PLAN off), which must give the same bits."""
import json
import textwrap

import numpy as np
import pytest

from ccnn import functional as F
from test_distribution import run_mpi

pytest.importorskip("mpi4py")


FITS = textwrap.dedent('''
    import hashlib
    from mpi4py import MPI
    from ccnn.distribution import data_parallel as dpm
    from ccnn.models import train_plan

    def model(dtype, bn):
        layers = [ccnn.Input((28, 28, 1)), Conv2D(6, 3, activation="relu", padding="same",
                  dtype=dtype), MaxPooling2D(2, dtype=dtype)]
        layers += [BatchNormalization(dtype=dtype)] if bn else []
        layers += [Flatten(dtype=dtype), Dense(32, activation="relu", dtype=dtype),
                   Dense(10, activation="softmax", dtype=dtype)]
        return ccnn.Sequential(layers)

    def fit(dtype, bn, opt, batch, n, plan, comm=None, nan_at=None):
        dpm._plan_switch.set(plan)
        x, y = data(n, dtype)
        if nan_at is not None:
            x[nan_at] = np.nan
        utils.set_random_seed(5)
        m = model(dtype, bn)
        m.compile(optimizer=opt, loss="sparse_categorical_crossentropy")
        with DataParallel(comm) as dp:
            h = m.fit(x, y, batch_size=batch, epochs=2, verbose=0, shuffle=nan_at is None)
        plans = [p for p in m.__dict__["_train_plans"].plans.values() if p]
        return {"weights": [hashlib.sha256(np.ascontiguousarray(w).tobytes()).hexdigest()
                            for w in m.weights],
                "opt": [hashlib.sha256(np.ascontiguousarray(v).tobytes()).hexdigest()
                        for v in m.optimizer.variables],
                "loss": h.history["loss"], "steps": dp.allreduce_steps,
                "fused": any(p.dist_rec is not None for p in plans)}
''')


def _same_bits(runs, keys=("weights", "opt", "loss", "steps")):
    first = runs[0]
    for other in runs[1:]:
        for k in keys:
            assert other[k] == first[k], k


@pytest.mark.parametrize("dtype,bn,opt,batch,n", [
    ("float32", True, "adam", 32, 320),     # an even split: the weight in the update
    ("float64", False, "sgd", 31, 317),     # shards of 16 and 15: weighted before the sum
    ("float32", False, "rmsprop", 33, 330),
])
def test_fused_step_gives_the_bits_of_the_plain_step(tmp_path, dtype, bn, opt, batch, n):
    """The fused plan step ends with the weights, optimizer state and logs of
    reduce_gradients + apply_gradients, bit for bit, on both ranks."""
    run_mpi(tmp_path, FITS + textwrap.dedent(f'''
        cfg = ("{dtype}", {bn}, "{opt}", {batch}, {n})
        runs = {{"plain": fit(*cfg, plan=False), "fused": fit(*cfg, plan=True)}}
        json.dump(runs, open(f"r{{MPI.COMM_WORLD.Get_rank()}}.json", "w"))
    '''), timeout=180)
    ranks = [json.loads((tmp_path / f"r{r}.json").read_text()) for r in (0, 1)]
    for runs in ranks:
        assert not runs["plain"]["fused"] and runs["fused"]["fused"]
        assert runs["plain"]["steps"] == 2 * (n // batch + (n % batch >= 2))
        _same_bits(list(runs.values()))
    _same_bits([ranks[0]["plain"], ranks[1]["plain"]])


def test_fused_step_stops_on_a_nan_on_one_rank(tmp_path):
    """A NaN in one sample of rank 1's shard: with terminate_on_nan every rank
    refuses that step (the check runs on the summed gradients and loss) and
    stops with the weights of the plain step, identical on both ranks."""
    run_mpi(tmp_path, FITS + textwrap.dedent('''
        import warnings
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            runs = {"plain": fit("float32", True, "adam", 32, 320, plan=False,
                                 nan_at=3 * 32 + 20),
                    "fused": fit("float32", True, "adam", 32, 320, plan=True,
                                 nan_at=3 * 32 + 20)}
        runs["warned"] = sum("terminating training" in str(x.message) for x in w)
        json.dump(runs, open(f"r{MPI.COMM_WORLD.Get_rank()}.json", "w"))
    '''))
    ranks = [json.loads((tmp_path / f"r{r}.json").read_text()) for r in (0, 1)]
    for runs in ranks:
        assert runs["fused"]["fused"] and runs["warned"] == 2
        assert runs["fused"]["steps"] == 4 and len(runs["fused"]["loss"]) == 1
        _same_bits([runs["plain"], runs["fused"]])
    _same_bits([ranks[0]["fused"], ranks[1]["fused"]])


def test_plan_optimize_refuses_a_bad_record():
    """The binding checks the record's size and kind before any C runs."""
    with pytest.raises(ValueError, match="inconsistent optimizer record"):
        F.plan_optimize_unchecked(np.zeros(10, np.int64), np.zeros(8), False)
    rec = np.zeros(16 + 6, np.int64)
    rec[1] = 1                                   # one pair, kind 0: not an optimizer
    with pytest.raises(ValueError, match="refused"):
        F.plan_optimize_unchecked(rec, np.zeros(8), True)
