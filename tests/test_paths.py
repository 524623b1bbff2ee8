import json
import pytest

from helpers import paths


def test_data_and_output_dirs_follow_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv(paths.DATA_ENV_VAR, str(tmp_path / "d"))
    monkeypatch.setenv(paths.OUTPUT_ENV_VAR, str(tmp_path / "o"))
    assert paths.data_dir() == tmp_path / "d" and (tmp_path / "d").is_dir()
    assert paths.output_dir("ood") == tmp_path / "o" / "ood" and (tmp_path / "o" / "ood").is_dir()


def test_without_the_variables_a_checkout_keeps_data_and_outputs_in_the_repository(monkeypatch):
    monkeypatch.delenv(paths.DATA_ENV_VAR)
    monkeypatch.delenv(paths.OUTPUT_ENV_VAR)
    repo = paths.Path(paths.__file__).resolve().parent.parent
    assert paths.data_dir() == repo / "data", f"expected {repo / 'data'}, got {paths.data_dir()}"


def test_an_unusable_directory_names_the_variable(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv(paths.OUTPUT_ENV_VAR, str(blocker / "outputs"))
    with pytest.raises(PermissionError, match=paths.OUTPUT_ENV_VAR):
        paths.output_dir("robustness")


def test_atomic_write_leaves_no_partial_file(tmp_path, monkeypatch):
    target = tmp_path / "sub" / "file.txt"
    paths.atomic_write_text(target, "first")
    assert target.read_text() == "first"

    def failing_replace(source, destination):
        raise OSError("disk full")

    monkeypatch.setattr(paths.os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk full"):
        paths.atomic_write_text(target, "second")
    assert target.read_text() == "first", "a failed write must keep the old content"
    leftovers = [p.name for p in target.parent.iterdir() if p != target]
    assert not leftovers, f"expected no temporary files after a failed write, got {leftovers}"


def test_results_round_trip_and_a_missing_file_names_the_notebook():
    written = paths.save_results("ood", "tiny", {"auroc": 0.75, "data": {"cifar10": "stand-in"}})
    assert json.loads(written.read_text())["auroc"] == 0.75
    assert paths.load_results("ood", "tiny") == {"auroc": 0.75, "data": {"cifar10": "stand-in"}}
    with pytest.raises(FileNotFoundError, match="book/ood/ood.ipynb"):
        paths.load_results("ood", "quick")
