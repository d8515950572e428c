"""The tests that need ../shared: skipped in a plain checkout without it, failed on CI
(``NST_REQUIRE_SHARED=1``, set by .ci/run), where it must be."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import REQUIRE_SHARED, shared_path

CI = Path(__file__).resolve().parents[1] / ".ci" / "run"


def test_a_missing_shared_folder_skips_in_a_plain_checkout(tmp_path, monkeypatch):
    monkeypatch.delenv(REQUIRE_SHARED, raising=False)
    with pytest.raises(pytest.skip.Exception, match="the paper's images are not at .*missing"):
        shared_path(tmp_path / "missing", "the paper's images")


def test_a_missing_shared_folder_fails_on_ci(tmp_path, monkeypatch):
    monkeypatch.setenv(REQUIRE_SHARED, "1")
    with pytest.raises(pytest.fail.Exception, match=f"not at .*missing, and {REQUIRE_SHARED}=1 says"):
        shared_path(tmp_path / "missing", "the paper's images")


@pytest.mark.parametrize("required", ["1", ""])
def test_a_present_shared_folder_is_used(tmp_path, monkeypatch, required):
    monkeypatch.setenv(REQUIRE_SHARED, required)
    assert shared_path(tmp_path, "the paper's images") == tmp_path


def test_ci_requires_the_shared_folder_before_it_runs_the_tests():
    lines = CI.read_text().splitlines()
    assert lines.index(f"export {REQUIRE_SHARED}=1") < lines.index("python -m pytest -q")
