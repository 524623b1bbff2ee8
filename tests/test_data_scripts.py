import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "data_scripts" / "download.py"


def _run(*args):
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True,
                          timeout=120)


def test_list_shows_what_is_present(tmp_path, monkeypatch):
    monkeypatch.setenv("TAI_DATA_DIR", str(tmp_path))
    (tmp_path / "svhn").mkdir()
    (tmp_path / "svhn" / "train_32x32.mat").write_bytes(b"")
    result = _run("--list")
    assert result.returncode == 0
    lines = {line.split()[0]: line for line in result.stdout.splitlines() if line.strip()}
    assert "present" in lines["svhn"] and "missing" in lines["mnist"]
    assert "stand-in only" in lines["letters"]
    assert str(tmp_path) in result.stdout


def test_unknown_dataset_is_a_usage_error():
    result = _run("imagenet")
    assert result.returncode == 2 and "unknown dataset" in result.stderr
