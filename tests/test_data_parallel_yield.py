"""DataParallel's default of Open MPI's mpi_yield_when_idle
(data_parallel._yield_default): set to 1 before MPI initialises unless the
user chose a value (environment or MCA parameter file) or MPI is already
initialised."""
from ccnn.distribution import data_parallel as dpm

PARAM = "OMPI_MCA_mpi_yield_when_idle"


def _env(tmp_path, **more):
    # a parameter file of the test's own: the real ~/.openmpi is not read
    env = {"OMPI_MCA_mca_param_files": str(tmp_path / "none.conf")}
    env.update(more)
    return env


def test_sets_yield_when_the_user_did_not(tmp_path):
    env = _env(tmp_path)
    assert dpm._yield_default(env, modules={}) is True
    assert env[PARAM] == "1"


def test_an_environment_setting_is_kept(tmp_path):
    for value in ("0", "1", "false"):
        env = _env(tmp_path, **{PARAM: value})
        assert dpm._yield_default(env, modules={}) is False
        assert env[PARAM] == value


def test_a_parameter_file_setting_is_kept(tmp_path):
    conf = tmp_path / "mca-params.conf"
    conf.write_text("# my settings\nbtl = self,sm\n mpi_yield_when_idle = 0\n")
    env = {"OMPI_MCA_mca_param_files": f"{tmp_path / 'missing.conf'}:{conf}"}
    assert dpm._yield_default(env, modules={}) is False
    assert PARAM not in env


def test_a_commented_out_file_setting_is_not_a_choice(tmp_path):
    conf = tmp_path / "mca-params.conf"
    conf.write_text("# mpi_yield_when_idle = 0\nbtl = self,sm\n")
    env = {"OMPI_MCA_mca_param_files": str(conf)}
    assert dpm._yield_default(env, modules={}) is True
    assert env[PARAM] == "1"


def test_nothing_is_set_once_mpi_is_initialised(tmp_path):
    env = _env(tmp_path)
    assert dpm._yield_default(env, modules={"mpi4py.MPI": object()}) is False
    assert PARAM not in env


def test_the_user_home_file_is_the_default_file(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / ".openmpi").mkdir()
    (tmp_path / ".openmpi" / "mca-params.conf").write_text("mpi_yield_when_idle=0\n")
    env = {}
    assert dpm._yield_default(env, modules={}) is False
    assert env == {}
