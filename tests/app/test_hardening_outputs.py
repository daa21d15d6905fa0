"""Hardening: output files follow the umask, never replace a symlink/device/FIFO/directory,
stay atomic, and stale temporaries of killed runs are cleaned up."""
import os
import stat
import subprocess
import sys
import time

import numpy as np
import pytest

from app.core.outputs import atomic_open, save_npy, write_scores_csv


@pytest.fixture
def umask():
    def set_umask(value):
        os.umask(value)
    old = os.umask(0o022)
    yield set_umask
    os.umask(old)


@pytest.mark.parametrize("mask,expected", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_outputs_follow_the_umask(tmp_path, umask, mask, expected):
    umask(mask)
    write_scores_csv(tmp_path / "s.csv", [("p", "K2R", 1.0)])
    save_npy(tmp_path / "a.npy", np.zeros(3))
    assert stat.S_IMODE(os.stat(tmp_path / "s.csv").st_mode) == expected
    assert stat.S_IMODE(os.stat(tmp_path / "a.npy").st_mode) == expected


def _symlink(tmp_path):
    real = tmp_path / "real.csv"
    real.write_text("keep\n")
    link = tmp_path / "link.csv"
    link.symlink_to(real)
    return link


def _dangling(tmp_path):
    link = tmp_path / "dangling.csv"
    link.symlink_to(tmp_path / "elsewhere.csv")
    return link


def _fifo(tmp_path):
    path = tmp_path / "pipe.csv"
    os.mkfifo(path)
    return path


def _directory(tmp_path):
    path = tmp_path / "adir"
    path.mkdir()
    return path


def _device(tmp_path):
    path = tmp_path / "null"
    try:
        os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, 3))  # a /dev/null node
    except (PermissionError, OSError) as e:
        pytest.skip(f"cannot create a device node here ({e})")
    return path


@pytest.mark.parametrize("make,kind", [(_symlink, "symbolic link"), (_dangling, "symbolic link"),
                                       (_fifo, "FIFO"), (_directory, "a directory"),
                                       (_device, "a device")])
def test_non_regular_target_is_refused_not_replaced(tmp_path, make, kind):
    target = make(tmp_path)
    before = os.lstat(target)
    with pytest.raises(OSError) as e:
        write_scores_csv(target, [("p", "K2R", 1.0)])
    assert kind in str(e.value) and str(target) in str(e.value)
    after = os.lstat(target)
    assert (after.st_ino, after.st_mode) == (before.st_ino, before.st_mode)
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    if make is _symlink:
        assert (tmp_path / "real.csv").read_text() == "keep\n"


def test_check_target_names_dev_null_a_device():
    from app.core.outputs import OutputError, check_target
    with pytest.raises(OutputError, match="a device; refusing"):
        check_target(os.devnull)  # lstat only: nothing is written


def test_missing_directory_is_refused_by_check_writable(tmp_path):
    from app.core.outputs import OutputError, check_writable
    with pytest.raises(OutputError, match="does not exist"):
        check_writable(tmp_path / "nope" / "x.csv")
    assert not (tmp_path / "nope").exists()
    assert check_writable(tmp_path / "x.csv") == tmp_path / "x.csv"
    assert list(tmp_path.iterdir()) == []  # the probe is removed


def test_temp_removed_when_replace_fails(tmp_path):
    target = tmp_path / "out.csv"
    with pytest.raises(OSError):
        with atomic_open(target) as f:
            f.write("data")
            target.mkdir()  # something appears at the target meanwhile
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"] and target.is_dir()


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_stale_temporaries_are_removed_when_the_name_is_written(tmp_path):
    dead = tmp_path / f".out.csv.{_dead_pid()}.0a1b2c3d.tmp"      # its run was killed
    old = tmp_path / ".out.csv.k3j4h5g6.tmp"                       # mkstemp-style, 2 h old
    live = tmp_path / f".out.csv.{os.getppid()}.ffffffff.tmp"     # a live run's
    other = tmp_path / f".other.csv.{_dead_pid()}.01234567.tmp"   # another file's: not ours to touch
    for p in (dead, old, live, other):
        p.write_text("half")
    two_hours_ago = time.time() - 7200
    os.utime(old, (two_hours_ago, two_hours_ago))
    write_scores_csv(tmp_path / "out.csv", [("p", "K2R", 1.0)])
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == sorted([live.name, other.name, "out.csv"])


def test_many_files_in_one_directory_list_it_once(tmp_path, monkeypatch):
    import app.core.outputs as outputs
    listings = []
    real = os.scandir

    def counting(path):
        listings.append(path)
        return real(path)
    monkeypatch.setattr(outputs.os, "scandir", counting)
    for i in range(300):
        save_npy(tmp_path / f"r{i}.npy", np.zeros(2))
    assert len(listings) <= 2  # O(N) for N files, not O(N^2)
