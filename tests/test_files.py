"""The one atomic writer and the clean-up of temp files that a killed save left behind (vae.files)."""
import os
import stat
import time

import numpy as np
import pytest
import torch

import vae
from vae.files import STALE_TEMP_AGE_S, is_temp_name, make_temp_folder, remove_stale_temps, write_atomically
from vae.io.codes import TestCodes as Codes  # aliased: pytest would try to collect a Test* class
from vae.io.codes import write_test_codes

DIGIT_NAMES = [str(i) for i in range(10)]


@pytest.fixture
def private_umask():
    """A umask that makes new files private (0600), as on a locked-down server; restored afterwards."""
    previous = os.umask(0o077)
    yield
    os.umask(previous)


def _mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _age(path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_write_atomically_writes_bytes_or_what_a_function_writes(tmp_path, private_umask):
    first = write_atomically(tmp_path / "sub" / "a.bin", b"abc")
    second = write_atomically(tmp_path / "b.npz", lambda handle: np.savez(handle, x=np.arange(3)))
    assert first.read_bytes() == b"abc" and np.load(second)["x"].tolist() == [0, 1, 2]
    assert _mode(first) == _mode(second) == 0o644  # an ordinary file, whatever the umask
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.npz", "sub"]


def test_a_failing_write_leaves_the_previous_file_and_no_temp(tmp_path):
    target = write_atomically(tmp_path / "model.pt", b"the good version")

    def half_then_fail(handle) -> None:
        handle.write(b"half of a new ver")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_atomically(target, half_then_fail)
    assert target.read_bytes() == b"the good version"
    assert [p.name for p in tmp_path.iterdir()] == ["model.pt"]


@pytest.mark.parametrize("name, is_temp", [
    (".model.pt.abc123.tmp", True), (".model.codes.npz.x1.tmp", True), (".upload.k2j3.tmp", True),
    ("model.pt", False), ("notes.tmp", False), (".tmp", False), (".hidden", False), (".model.pt", False),
])
def test_temp_names(name, is_temp):
    assert is_temp_name(name) is is_temp


def test_only_stale_temps_are_removed(tmp_path):
    stale_file, fresh_file = tmp_path / ".model.pt.old.tmp", tmp_path / ".model.pt.new.tmp"
    keep = [tmp_path / "model.pt", tmp_path / "notes.tmp", tmp_path / ".hidden"]
    for path in (stale_file, fresh_file, *keep):
        path.write_bytes(b"x")
    stale_folder = make_temp_folder(tmp_path, "upload")
    (stale_folder / "model.pt").write_bytes(b"an upload being checked when the server died")
    for path in (stale_file, stale_folder, *keep):
        _age(path, STALE_TEMP_AGE_S + 60)
    _age(fresh_file, STALE_TEMP_AGE_S - 60)  # a save still running: never touched
    removed = remove_stale_temps(tmp_path)
    assert sorted(removed) == sorted([stale_file, stale_folder])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([fresh_file.name, *(p.name for p in keep)])


def test_remove_stale_temps_of_a_missing_folder_does_nothing(tmp_path):
    assert remove_stale_temps(tmp_path / "nope") == []


def test_the_listing_removes_what_a_killed_save_left(tmp_path, tiny_model):
    """A save killed between its temp file and the rename leaves `.<name>.pt.*.tmp`; the next listing removes it."""
    path = vae.save_checkpoint(tmp_path / "model.pt", tiny_model, dataset="digits", class_names=DIGIT_NAMES)
    leftovers = [tmp_path / ".model.pt.k1ll3d.tmp", tmp_path / ".model.codes.npz.k1ll3d.tmp"]
    fresh = tmp_path / ".other.pt.running.tmp"
    for leftover in (*leftovers, fresh):
        leftover.write_bytes(path.read_bytes()[:100])
    for leftover in leftovers:
        _age(leftover, STALE_TEMP_AGE_S + 1)
    assert [info.name for info in vae.list_checkpoints(tmp_path)] == ["model"]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["model.pt", fresh.name])


def test_every_writer_of_the_app_leaves_an_ordinary_file_and_no_temp(tmp_path, tiny_model, private_umask,
                                                                    monkeypatch):
    checkpoint = vae.save_checkpoint(tmp_path / "m.pt", tiny_model, dataset="digits", class_names=DIGIT_NAMES)
    codes = write_test_codes(checkpoint, Codes(np.zeros((2, 2), np.float32), np.arange(2), ("a", "b"), "digits"),
                             "digits:builtin")
    assert _mode(checkpoint) == _mode(codes) == 0o644
    monkeypatch.setattr(np, "savez_compressed", lambda *args, **kwargs: (_ for _ in ()).throw(OSError("disk full")))
    monkeypatch.setattr(torch, "save", lambda *args, **kwargs: (_ for _ in ()).throw(OSError("disk full")))
    with pytest.raises(OSError):
        write_test_codes(checkpoint, Codes(np.ones((2, 2), np.float32), np.arange(2), ("a", "b"), "digits"), "x")
    with pytest.raises(OSError):
        vae.save_checkpoint(checkpoint, tiny_model, dataset="digits", class_names=DIGIT_NAMES)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.codes.npz", "m.pt"]
