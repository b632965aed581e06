"""The mpiexec helper of the data-parallel tests (test_distribution.run_mpi):
a job that does not run to its end on every rank fails the test loudly --
deliberately broken scripts must raise, a sound one must pass."""
import textwrap

import pytest

from test_distribution import run_mpi

pytest.importorskip("mpi4py")

# a block of helpers ending in a def, as test_data_parallel_fast's FITS
HELPERS = textwrap.dedent('''
    def helper():
        return 1
''')


def test_a_sound_script_passes_on_every_rank(tmp_path):
    r = run_mpi(tmp_path, HELPERS + textwrap.dedent('''
        rank = os.environ["OMPI_COMM_WORLD_RANK"]
        open(f"ran{rank}", "w").write(str(helper()))
    '''))
    assert r.returncode == 0
    assert [(tmp_path / f"ran{k}").read_text() for k in (0, 1)] == ["1", "1"]


def test_code_appended_under_a_def_is_refused(tmp_path):
    """The body indented one level after HELPERS (not dedented on its own)
    would be the def's dead code: the job used to exit 0 having done nothing."""
    with pytest.raises(AssertionError, match="never runs"):
        run_mpi(tmp_path, HELPERS + '''
    assert False, "never runs"
    open("ran", "w").close()
''')
    assert not (tmp_path / "job.py").exists()       # refused before mpiexec


def test_mixed_indentation_is_refused(tmp_path):
    with pytest.raises(AssertionError, match="not a valid script"):
        run_mpi(tmp_path, 'x = 1\n        y = 2\n')


def test_a_rank_that_stops_early_with_status_zero_fails(tmp_path):
    with pytest.raises(AssertionError, match=r"rank\(s\) \[1\] did not reach the end"):
        run_mpi(tmp_path, '''
            if os.environ["OMPI_COMM_WORLD_RANK"] == "1":
                sys.stdout.flush()
                os._exit(0)
        ''')


def test_an_error_in_a_thread_fails(tmp_path):
    with pytest.raises(AssertionError, match="mpiexec failed"):
        run_mpi(tmp_path, '''
            import threading
            t = threading.Thread(target=lambda: 1 / 0)
            t.start()
            t.join()
        ''')


def test_a_failing_assert_fails(tmp_path):
    with pytest.raises(AssertionError, match="mpiexec failed"):
        run_mpi(tmp_path, '''
            assert os.environ["OMPI_COMM_WORLD_RANK"] == "0"
        ''')
