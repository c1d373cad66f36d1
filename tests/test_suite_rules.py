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
