"""Shared fixtures: every test writes data and outputs into its own temporary folders."""

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _isolated_dirs(tmp_path_factory, monkeypatch):
    """Point $TAI_DATA_DIR/$TAI_OUTPUT_DIR at fresh folders; ignore a caller's $TAI_PROFILE."""
    monkeypatch.setenv("TAI_DATA_DIR", str(tmp_path_factory.mktemp("data")))
    monkeypatch.setenv("TAI_OUTPUT_DIR", str(tmp_path_factory.mktemp("outputs")))
    monkeypatch.delenv("TAI_PROFILE", raising=False)
    from helpers import data

    data._cached.cache_clear()
    yield
    data._cached.cache_clear()


@pytest.fixture
def repo() -> Path:
    return REPO


