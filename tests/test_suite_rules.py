"""The rules the default suite runs under (see tests/conftest.py)."""

import pathlib

pytest_plugins = ["pytester"]


def test_a_skipped_test_fails_under_make_test(pytester, monkeypatch):
    pytester.makeconftest((pathlib.Path(__file__).parent / "conftest.py").read_text())
    pytester.makepyfile(test_oracle="import pytest\n\ndef test_oracle():\n    pytest.skip('torch is missing')\n")
    monkeypatch.setenv("KZOO_NO_SKIPS", "1")
    pytester.runpytest_inprocess("-p", "no:cacheprovider").assert_outcomes(failed=1)
    monkeypatch.delenv("KZOO_NO_SKIPS")
    pytester.runpytest_inprocess("-p", "no:cacheprovider").assert_outcomes(skipped=1)


def test_a_module_skipped_at_collection_fails_under_make_test(pytester, monkeypatch):
    pytester.makeconftest((pathlib.Path(__file__).parent / "conftest.py").read_text())
    pytester.makepyfile(test_oracle="import pytest\n\nprdc = pytest.importorskip('kzoo_no_such_module')\n\n"
                                    "def test_oracle():\n    pass\n")
    monkeypatch.setenv("KZOO_NO_SKIPS", "1")
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    assert result.ret != 0 and "skipped at collection under KZOO_NO_SKIPS=1" in result.stdout.str()
    monkeypatch.delenv("KZOO_NO_SKIPS")
    pytester.runpytest_inprocess("-p", "no:cacheprovider").assert_outcomes(skipped=1)


def test_an_unknown_marker_is_an_error():
    """setup.cfg runs pytest with --strict-markers: a misspelt `slow` would otherwise run in the default suite."""
    import configparser
    config = configparser.ConfigParser()
    config.read(pathlib.Path(__file__).resolve().parents[1] / "setup.cfg")
    assert "--strict-markers" in config["tool:pytest"]["addopts"].split()
