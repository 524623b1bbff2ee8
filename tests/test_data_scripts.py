"""data_scripts/download.py and helpers.data.downloads against a local HTTP server.

Every download goes to 127.0.0.1 (``$TAI_DATA_MIRRORS`` replaces the published mirrors);
the registry entries under test carry the checksums of small files the tests write.
"""

import dataclasses
import errno
import gzip
import hashlib
import io
import multiprocessing
import os
import pickle
import socket
import struct
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest

from helpers import data
from helpers.data import downloads, transfer
from local_server import LocalServer

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "data_scripts" / "download.py"
sys.path.insert(0, str(SCRIPT.parent))
import download  # noqa: E402

BLOB = bytes(range(256)) * 1200            # 300 KiB: several chunks, big enough to cut


def sha(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def tar_gz(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


@pytest.fixture
def server(monkeypatch):
    with LocalServer() as local:
        monkeypatch.setenv("TAI_DATA_MIRRORS", f"{local.url}/m1 {local.url}/m2")
        monkeypatch.setattr(transfer, "BACKOFF_SECONDS", 0.0)
        yield local


@pytest.fixture
def toy(monkeypatch, tmp_path):
    """A dataset "toy" of one plain file and one tar.gz; returns (data dir, contents)."""
    archive = tar_gz({"toyset/a.bin": BLOB[:5000], "toyset/notes/b.txt": b"hello\n"})
    files = (downloads.RemoteFile("blob.bin", (), sha(BLOB), "copy", "toy/blob.bin",
                                  ("toy/blob.bin",)),
             downloads.RemoteFile("toyset.tar.gz", (), sha(archive), "untar", "",
                                  ("toyset/a.bin", "toyset/notes/b.txt")))
    monkeypatch.setitem(downloads.REGISTRY, "toy",
                        downloads.RemoteDataset("Toy", "-", "test files", files))
    monkeypatch.setenv("TAI_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data", {"blob.bin": BLOB, "toyset.tar.gz": archive}


def serve_toy(server, contents, mirror="m2", **actions):
    for name, content in contents.items():
        server.serve(f"/{mirror}/toy/{name}", content, *actions.get(name, ()))


def run(*args):
    return download.main([*args, "--quiet"])


def test_good_download_places_verified_files(server, toy):
    root, contents = toy
    serve_toy(server, contents, mirror="m1")
    assert run("download", "toy") == 0
    assert (root / "toy" / "blob.bin").read_bytes() == BLOB
    assert (root / "toyset" / "notes" / "b.txt").read_bytes() == b"hello\n"
    assert downloads.status("toy").state == "verified"
    assert not list((root / ".downloads").glob("*.part"))
    assert downloads.verify("toy") == []
    requests_before = len(server.log)
    assert run("toy") == 0                       # bare names = download; nothing to fetch
    assert len(server.log) == requests_before


def test_404_on_first_mirror_falls_back_to_the_second(server, toy):
    root, contents = toy
    serve_toy(server, contents, mirror="m2")
    assert run("download", "toy") == 0
    assert server.requests_for("/m1/toy/blob.bin") == [None]      # 404: no retry
    assert server.requests_for("/m2/toy/blob.bin") == [None]
    assert (root / "toy" / "blob.bin").read_bytes() == BLOB


def test_corrupt_file_is_kept_aside_and_fetched_again(server, toy):
    root, contents = toy
    serve_toy(server, contents, mirror="m1", **{"blob.bin": ["corrupt"]})
    assert run("download", "toy") == 0
    corrupt = root / ".downloads" / "blob.bin.corrupt"
    assert corrupt.read_bytes() == bytes(b ^ 0xFF for b in BLOB)
    assert (root / "toy" / "blob.bin").read_bytes() == BLOB
    assert server.requests_for("/m1/toy/blob.bin") == [None, None]   # from scratch again


def test_interrupted_download_resumes_with_a_range_request(server, toy):
    root, contents = toy
    serve_toy(server, contents, mirror="m1", **{"blob.bin": ["cut:100000"]})
    assert run("download", "toy") == 0
    assert server.requests_for("/m1/toy/blob.bin") == [None, "bytes=100000-"]
    assert (root / "toy" / "blob.bin").read_bytes() == BLOB
    assert downloads.verify("toy") == []


def test_partial_file_from_an_earlier_run_is_resumed(server, toy):
    root, contents = toy
    serve_toy(server, contents, mirror="m1")
    (root / ".downloads").mkdir(parents=True)
    (root / ".downloads" / "blob.bin.part").write_bytes(BLOB[:70000])
    assert run("download", "toy") == 0
    assert server.requests_for("/m1/toy/blob.bin") == ["bytes=70000-"]
    assert (root / "toy" / "blob.bin").read_bytes() == BLOB


def test_resume_honours_an_earlier_content_range_start(server, toy):
    root, contents = toy
    serve_toy(server, contents, mirror="m1", **{"blob.bin": ["early:1000"]})
    (root / ".downloads").mkdir(parents=True)
    (root / ".downloads" / "blob.bin.part").write_bytes(BLOB[:70000])
    assert run("download", "toy") == 0                       # the overlap is rewritten
    assert (root / "toy" / "blob.bin").read_bytes() == BLOB


def test_a_silent_server_times_out_instead_of_hanging(server, toy, capsys):
    root, contents = toy
    serve_toy(server, contents, mirror="m1", **{"blob.bin": ["hang:5"]})
    serve_toy(server, contents, mirror="m2", **{"blob.bin": ["hang:5"]})
    assert run("download", "toy", "--timeout", "0.5", "--retries", "1") == 3
    assert "timed out" in capsys.readouterr().err
    assert not (root / "toy").exists()


def test_every_mirror_404_is_exit_4_and_leaves_nothing(server, toy, capsys):
    root, _ = toy
    assert run("download", "toy") == transfer.UnavailableError.exit_code == 4
    message = capsys.readouterr().err
    assert "every mirror" in message and "HTTP 404" in message and "--print-urls" in message
    leftovers = sorted(p.name for p in root.rglob("*"))
    assert leftovers == [".downloads", "toy.lock"]


def test_server_errors_are_retried_with_backoff(server, toy):
    root, contents = toy
    serve_toy(server, contents, mirror="m1", **{"blob.bin": ["500", "500"]})
    assert run("download", "toy") == 0
    assert len(server.requests_for("/m1/toy/blob.bin")) == 3


def test_no_network_is_exit_3(monkeypatch, toy, capsys):
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    closed_port = probe.getsockname()[1]
    probe.close()                                # nothing listens there any more
    monkeypatch.setenv("TAI_DATA_MIRRORS", f"http://127.0.0.1:{closed_port}/m1")
    monkeypatch.setattr(transfer, "BACKOFF_SECONDS", 0.0)
    assert run("download", "toy") == 3
    assert "No mirror could be reached" in capsys.readouterr().err


def test_checksum_mismatch_everywhere_is_exit_5_and_never_placed(server, toy):
    root, contents = toy
    for mirror in ("m1", "m2"):
        serve_toy(server, {"blob.bin": contents["blob.bin"]}, mirror=mirror,
                  **{"blob.bin": ["corrupt", "corrupt"]})
    assert run("download", "toy") == 5
    assert not (root / "toy").exists()
    assert (root / ".downloads" / "blob.bin.corrupt").exists()


def test_disk_full_is_exit_6(server, toy, monkeypatch, capsys):
    _, contents = toy
    serve_toy(server, contents, mirror="m1")

    class FullDisk(io.BytesIO):
        def write(self, _):
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(transfer, "open", lambda *a, **k: FullDisk(), raising=False)
    assert run("download", "toy") == 6
    assert "Disk full" in capsys.readouterr().err


def test_unwritable_directory_is_exit_7(server, toy, tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    assert run("download", "toy", "--data-dir", str(blocker / "data")) == 7
    assert "--data-dir" in capsys.readouterr().err
    assert server.log == []


def test_offline_never_connects(server, toy, monkeypatch, capsys):
    root, contents = toy
    serve_toy(server, contents, mirror="m1")
    assert run("download", "toy") == 0
    before = len(server.log)

    def refuse(*args):
        raise AssertionError("--offline opened a connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    assert run("download", "toy", "--offline") == 0
    assert "toy: verified" in capsys.readouterr().out
    (root / "toy" / "blob.bin").write_bytes(b"tampered")
    assert run("download", "toy", "--offline") == transfer.NotVerifiedError.exit_code == 8
    assert not (root / "toy" / "blob.bin").exists()          # moved aside, never read
    assert "--offline makes no connection" in capsys.readouterr().err
    assert len(server.log) == before


def test_offline_cli_process_makes_no_request(server, tmp_path):
    env = {**os.environ, "TAI_DATA_DIR": str(tmp_path), "PYTHONPATH": str(REPO)}
    result = subprocess.run([sys.executable, str(SCRIPT), "mnist", "--offline"], env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 8 and "mnist/train-images-idx3-ubyte.gz: missing" in result.stdout
    assert server.log == []


def _download_in_child(argv, queue):
    queue.put(download.main(argv))


def test_concurrent_runs_do_not_corrupt_the_directory(server, toy, capfd):
    root, contents = toy
    serve_toy(server, contents, mirror="m1", **{"blob.bin": ["slow", "slow"]})
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    children = [context.Process(target=_download_in_child,
                                args=(["download", "toy", "--quiet"], queue)) for _ in range(2)]
    for child in children:
        child.start()
    for child in children:
        child.join(timeout=60)
    assert sorted(queue.get(timeout=5) for _ in children) == [0, 0]
    assert "another run is using" in capfd.readouterr().err    # they did overlap
    assert len(server.requests_for("/m1/toy/blob.bin")) == 1   # the second run waited
    assert (root / "toy" / "blob.bin").read_bytes() == BLOB
    assert downloads.verify("toy") == []


def test_import_verifies_and_places(toy, tmp_path, capsys):
    root, contents = toy
    fetched = tmp_path / "fetched-elsewhere"
    fetched.mkdir()
    for name, content in contents.items():
        (fetched / name).write_bytes(content)
    (fetched / "other.bin").write_bytes(BLOB[:10])
    assert run("import", *(str(fetched / n) for n in contents)) == 0
    assert (root / "toyset" / "a.bin").read_bytes() == BLOB[:5000]
    assert downloads.status("toy").state == "verified"
    assert (fetched / "blob.bin").exists()                    # the original is kept
    assert run("import", str(fetched / "other.bin")) == 5
    assert "none of the files the kit knows" in capsys.readouterr().err


def test_list_remove_and_print_urls(server, toy, capsys):
    root, contents = toy
    serve_toy(server, contents, mirror="m1")
    (root / "toy").mkdir(parents=True)
    (root / "toy" / "blob.bin").write_bytes(BLOB)             # placed by hand
    assert run("list") == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}
    assert "incomplete" in lines["toy"] and "missing" in lines["svhn"]
    assert "stand-in only" in lines["letters"] and str(root) in lines["data"]
    assert run("download", "toy") == 0
    assert server.requests_for("/m1/toy/blob.bin") == []      # adopted: checksum matched
    assert run("list") == 0
    assert "verified" in capsys.readouterr().out
    assert run("remove", "toy") == 0
    assert not (root / "toy").exists() and not (root / "toyset").exists()
    assert run("--print-urls", "toy") == 0
    out = capsys.readouterr().out
    assert sha(BLOB) in out and f"{server.url}/m1/toy/blob.bin" in out and "import" in out


def test_files_placed_by_hand_are_present_and_checked_where_possible(toy):
    root, contents = toy
    (root / "toy").mkdir(parents=True)
    (root / "toy" / "blob.bin").write_bytes(BLOB)
    with tarfile.open(fileobj=io.BytesIO(contents["toyset.tar.gz"])) as archive:
        archive.extractall(root, filter="data")                 # unpacked by hand
    assert downloads.status("toy").state == "present" and downloads.present("toy")
    problems = downloads.verify("toy")
    assert problems == ["toy/toyset.tar.gz: present but not placed by this tool, so it "
                        "cannot be verified; `import` the original file or download it again"]
    assert downloads.status("toy").files["blob.bin"] == "verified"  # published as it is


def test_unknown_dataset_is_a_usage_error():
    result = subprocess.run([sys.executable, str(SCRIPT), "imagenet"], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 2 and "unknown dataset" in result.stderr


def test_adult_zip_is_checked_by_member(server, monkeypatch, tmp_path):
    members = {"adult.data": b"39, State-gov, 77516\n", "adult.test": b"|1x3 Cross\n25, Private\n"}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in {**members, "Index": b"index"}.items():
            archive.writestr(name, content)
    real = downloads.REGISTRY["adult"].files[0]
    patched = dataclasses.replace(real, members=tuple((n, sha(c)) for n, c in members.items()))
    monkeypatch.setitem(downloads.REGISTRY, "adult",
                        dataclasses.replace(downloads.REGISTRY["adult"], files=(patched,)))
    server.serve("/m1/adult/adult.zip", buffer.getvalue())
    assert downloads.fetch("adult", tmp_path, progress=False).state == "verified"
    assert (tmp_path / "adult" / "adult.test").read_bytes() == members["adult.test"]
    assert not (tmp_path / "adult" / "Index").exists()
    bad = dataclasses.replace(patched, members=(("adult.data", "0" * 64),))
    monkeypatch.setitem(downloads.REGISTRY, "adult",
                        dataclasses.replace(downloads.REGISTRY["adult"], files=(bad,)))
    with pytest.raises(transfer.ChecksumError, match="member adult.data"):
        downloads.fetch("adult", tmp_path / "second", progress=False)
    assert (tmp_path / "second" / ".downloads" / "adult.zip.corrupt").exists()
    assert not (tmp_path / "second" / "adult").exists()


def test_cifar_archive_lands_in_the_torchvision_layout(toy, tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    batch = {"data": rng.integers(0, 256, (4, 3072), dtype=np.uint8), "labels": [0, 1, 2, 3]}
    names = [p.split("/")[1] for p in downloads.REGISTRY["cifar10"].files[0].provides]
    archive = tar_gz({f"cifar-10-batches-py/{n}": pickle.dumps(batch) for n in names})
    spec = dataclasses.replace(downloads.REGISTRY["cifar10"].files[0], sha256=sha(archive))
    monkeypatch.setitem(downloads.REGISTRY, "cifar10",
                        dataclasses.replace(downloads.REGISTRY["cifar10"], files=(spec,)))
    (tmp_path / "cifar-10-python.tar.gz").write_bytes(archive)
    assert run("import", str(tmp_path / "cifar-10-python.tar.gz")) == 0
    root = toy[0]
    with open(root / "cifar-10-batches-py" / "test_batch", "rb") as handle:
        assert pickle.load(handle)["labels"] == [0, 1, 2, 3]
    assert downloads.status("cifar10").state == "verified" and downloads.present("cifar10")


def _idx(array: np.ndarray, magic: int) -> bytes:
    header = struct.pack(">I", magic) + b"".join(struct.pack(">I", n) for n in array.shape)
    return header + array.astype(np.uint8).tobytes()


def test_fetched_mnist_is_what_the_notebooks_load(server, monkeypatch, tmp_path, capsys):
    """End to end: the tool fetches real-format MNIST into the layout; load() finds it."""
    monkeypatch.setenv("TAI_DATA_DIR", str(tmp_path))
    rng = np.random.default_rng(1)
    content = {}
    for prefix, count in (("train", 20), ("t10k", 8)):
        content[f"{prefix}-images-idx3-ubyte"] = _idx(
            rng.integers(0, 256, (count, 28, 28)), 2051)
        content[f"{prefix}-labels-idx1-ubyte"] = _idx(np.arange(count) % 10, 2049)
    gzipped = {f"{name}.gz": gzip.compress(raw, mtime=0) for name, raw in content.items()}
    specs = tuple(dataclasses.replace(remote, sha256=sha(gzipped[remote.name]), md5=None,
                                      size=None)
                  for remote in downloads.REGISTRY["mnist"].files)
    monkeypatch.setitem(downloads.REGISTRY, "mnist",
                        dataclasses.replace(downloads.REGISTRY["mnist"], files=specs))
    for name, blob in gzipped.items():
        server.serve(f"/m2/mnist/{name}", blob)
    assert data.load("mnist", "test", source="auto").source == "standin"
    assert "download.py mnist" in capsys.readouterr().out
    assert run("download", "mnist") == 0
    assert (tmp_path / "MNIST" / "raw" / "t10k-images-idx3-ubyte").read_bytes() == \
        content["t10k-images-idx3-ubyte"]
    test = data.load("mnist", "test", source="auto")
    assert test.source == "real" and len(test) == 8
    assert test.labels.tolist() == [0, 1, 2, 3, 4, 5, 6, 7, 0, 1][:8]
    assert "not found" not in capsys.readouterr().out


ADULT_FOLDER = REPO.parent / "shared" / "data" / "adult"


def adult_members(monkeypatch, members: dict[str, bytes]) -> None:
    """Register adult.zip with members of the given contents (their SHA-256)."""
    real = downloads.REGISTRY["adult"].files[0]
    patched = dataclasses.replace(real, members=tuple((n, sha(c)) for n, c in members.items()))
    monkeypatch.setitem(downloads.REGISTRY, "adult",
                        dataclasses.replace(downloads.REGISTRY["adult"], files=(patched,)))


def test_loose_adult_files_import_by_their_member_checksum(monkeypatch, tmp_path, capsys):
    # the real format: comma-space separated rows; adult.test starts with a junk line
    # and writes its labels with a trailing dot
    row = ("39, State-gov, 77516, Bachelors, 13, Never-married, Adm-clerical, "
           "Not-in-family, {race}, Male, 2174, 0, 40, United-States, {label}\n")
    members = {"adult.data": (row.format(race="White", label="<=50K")
                              + row.format(race="Black", label=">50K")).encode(),
               "adult.test": ("|1x3 Cross validator\n" + row.format(race="White", label=">50K.")
                              + row.format(race="Black", label="<=50K.")).encode()}
    adult_members(monkeypatch, members)
    loose, root = tmp_path / "Downloads", tmp_path / "data"
    loose.mkdir()
    for name, content in members.items():
        (loose / name).write_bytes(content)
    (loose / "adult-edited.data").write_bytes(members["adult.data"] + b"1, x\n")
    assert run("import", str(loose / "adult.data"), "--data-dir", str(root)) == 0
    state = downloads.status("adult", root).state
    assert state == "incomplete", f"one of two members placed: expected incomplete, got {state}"
    assert run("import", str(loose / "adult.test"), "--data-dir", str(root)) == 0
    out = capsys.readouterr().out
    assert "verified as adult/adult.test" in out, f"expected the member's name in: {out!r}"
    state = downloads.status("adult", root).state
    assert state == "verified", f"both members imported: expected verified, got {state}"
    assert downloads.verify("adult", root) == [], "the imported members should re-verify"
    placed = (root / "adult" / "adult.test").read_bytes()
    assert placed == members["adult.test"], "adult.test should be placed byte for byte"
    assert (loose / "adult.data").exists(), "the original file should be kept"
    assert run("import", str(loose / "adult-edited.data"), "--data-dir", str(root)) == 5
    assert "none of the files the kit knows" in capsys.readouterr().err


@pytest.mark.skipif(not ADULT_FOLDER.is_dir(),
                    reason=f"the real UCI Adult files are not in {ADULT_FOLDER}")
def test_the_real_adult_files_import_loose_and_load(tmp_path, monkeypatch):
    root = tmp_path / "data"
    assert run("import", str(ADULT_FOLDER / "adult.data"), str(ADULT_FOLDER / "adult.test"),
               "--data-dir", str(root)) == 0, "the real files should match the recorded SHA-256"
    state = downloads.status("adult", root).state
    assert state == "verified", f"real adult.data + adult.test: expected verified, got {state}"
    monkeypatch.setenv("TAI_DATA_DIR", str(root))
    adult = data.load("adult", source="real", verbose=False)
    rows = len(adult.y_train) + len(adult.y_test)
    # 48,842 rows in both files, of which White or Black: 46,447
    assert adult.source == "real" and rows == 46447, f"expected 46,447 real rows, got {rows}"
