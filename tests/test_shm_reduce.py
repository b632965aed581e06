"""ccnn.distribution.shm_reduce: the per-step sum of DataParallel's buffer
through an MPI-3 shared-memory window.

Every test launches `mpiexec -n K --oversubscribe` (test_distribution's
run_mpi, with its timeout).  The reference is NumPy's sum of every rank's
buffer in rank order, ((b_0 + b_1) + b_2) + ..., each rank's buffer drawn
from its own seeded generator; every rank's result must equal it bit for bit
and be the same bytes on every rank."""
import json

import pytest

from _testutils import require_optional
from test_distribution import run_mpi

require_optional("mpi4py", "the data-parallel tests; pip install 'ccnn[mpi]'")

# sizes: fewer values than ranks, uneven slices, the book model's buffer
SIZES = [1, 2, 5, 1001, 4097, 197_210]

_CHECK = '''
from mpi4py import MPI
from ccnn.distribution.shm_reduce import ShmReducer
comm = MPI.COMM_WORLD
rank, k = comm.Get_rank(), comm.Get_size()
node = None
if os.environ.get("NODES") == "split":      # as if ranks 0, 1 and 2 were two nodes
    node = comm.Split(rank // 2, rank)
def check(n, dtype):
    red = ShmReducer(comm, n, dtype, node_comm=node)
    assert red.buffer.dtype == np.dtype(dtype) and red.buffer.shape == (n,)
    for call in range(3):                   # the same window, step after step
        mine = np.random.default_rng([n, rank, call]).standard_normal(n).astype(dtype) * 10
        red.buffer[:] = mine
        red.reduce()
        want = np.random.default_rng([n, 0, call]).standard_normal(n).astype(dtype) * 10
        for q in range(1, k):
            want = want + np.random.default_rng([n, q, call]).standard_normal(n).astype(dtype) * 10
        assert want.dtype == np.dtype(dtype)
        assert np.array_equal(red.buffer, want), (n, dtype, call, rank)
        every = comm.allgather(red.buffer.tobytes())
        assert all(b == every[0] for b in every), (n, dtype, call)
    hier = red.hierarchical
    red.close()
    return hier
sizes = json.loads(sys.argv[1])
hier = {check(n, dt) for n in sizes for dt in ("float32", "float64")}
if rank == 0:
    print("HIERARCHICAL", sorted(hier), flush=True)
'''


@pytest.mark.parametrize("k", [2, 3])
def test_sum_is_the_rank_order_sum_on_every_rank(tmp_path, k):
    r = run_mpi(tmp_path, _CHECK, n=k, args=(json.dumps(SIZES),), timeout=180)
    assert "HIERARCHICAL [False]" in r.stdout, r.stdout


def test_across_nodes_the_sum_is_hierarchical_and_identical(tmp_path, monkeypatch):
    """Ranks {0, 1} and {2} as two nodes: each node's window sum, then the
    leaders' Allreduce (two addends: the same bits in either order)."""
    monkeypatch.setenv("NODES", "split")
    r = run_mpi(tmp_path, _CHECK, n=3, args=(json.dumps([1, 5, 4097]),), timeout=180)
    assert "HIERARCHICAL [True]" in r.stdout, r.stdout


def test_bad_arguments_are_refused(tmp_path):
    run_mpi(tmp_path, '''
        from mpi4py import MPI
        from ccnn.distribution.shm_reduce import ShmReducer, slice_bounds
        for bad, exc, word in [(("int32", 4), TypeError, "dtype"),
                               (("float32", -1), ValueError, "n")]:
            try:
                ShmReducer(MPI.COMM_WORLD, bad[1], bad[0])
            except exc as e:
                assert word in str(e), e
            else:
                raise AssertionError(f"{bad} accepted")
        red = ShmReducer(MPI.COMM_WORLD, 3, "float64")
        red.close()
        try:
            red.reduce()
        except ValueError as e:
            assert "closed" in str(e)
        else:
            raise AssertionError("reduce after close")
        # the slices tile [0, n) in order, sizes differing by at most one
        for n in range(0, 12):
            for k in range(1, 5):
                b = [slice_bounds(n, k, r) for r in range(k)]
                assert b[0][0] == 0 and b[-1][1] == n
                assert all(b[i][1] == b[i + 1][0] for i in range(k - 1))
                assert max(h - l for l, h in b) - min(h - l for l, h in b) <= 1
    ''')


def test_a_rank_killed_while_the_other_waits_in_reduce_ends_the_job(tmp_path):
    """Every wait of reduce is an MPI call: the launcher ends the survivor."""
    r = run_mpi(tmp_path, '''
        import signal
        from mpi4py import MPI
        from ccnn.distribution.shm_reduce import ShmReducer
        comm = MPI.COMM_WORLD
        red = ShmReducer(comm, 1000, "float32")
        red.reduce()
        if comm.Get_rank() == 1:
            os.kill(os.getpid(), signal.SIGKILL)
        red.reduce()
        open("finished", "w").close()
    ''', check=False)
    assert r.returncode != 0
    out = r.stdout + r.stderr
    assert "signal 9" in out, out
    assert not (tmp_path / "finished").exists()
    assert r.seconds < 60


def test_data_parallel_gives_the_bits_of_the_allreduce(tmp_path):
    """Two ranks: the window's sum b0 + b1 is the bits of MPI's Allreduce
    (b0 + b1 or b1 + b0), so a fit through it (f32 and f64, steps_per_execution
    1 and 3, an uneven global batch) ends at the very weights of one through
    Allreduce (CCNN_DP_SHM=0's path), on both ranks."""
    r = run_mpi(tmp_path, '''
        from ccnn.distribution import data_parallel as dpm
        out = {}
        for dtype in ("float32", "float64"):
            for spe in (1, 3):
                got = []
                for shm in (True, False):
                    dpm._shm_switch.set(shm)
                    utils.set_random_seed(3)
                    m = book(dtype)
                    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                              steps_per_execution=spe)
                    x, y = data(200, dtype)
                    with DataParallel() as dp:
                        m.fit(x, y, batch_size=33, epochs=2, verbose=0)
                    assert bool(dp._reducers) == shm, (shm, dp._reducers)
                    got.append([a.copy() for layer in m.layers
                                for a in layer.weight_arrays().values()])
                assert all(np.array_equal(a, b) for a, b in zip(*got)), (dtype, spe)
                flat = np.concatenate([a.ravel().astype(np.float64) for a in got[0]])
                out[f"{dtype} {spe}"] = flat
        from mpi4py import MPI
        every = MPI.COMM_WORLD.allgather(
            {k: v.tobytes() for k, v in out.items()})
        assert every[0] == every[1]
    ''', timeout=240)
    assert r.returncode == 0
