import os
import stat

import pytest
from ansible_collections.fracto.hosting.plugins.module_utils import files


def test_writes_text_and_bytes_with_the_mode_asked(tmp_path):
    target = tmp_path / "a.conf"
    files.write_atomic(str(target), "caffè\n", mode=0o640)
    assert target.read_text(encoding="utf-8") == "caffè\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    files.write_atomic(str(target), b"\x00\x01", mode=0o600)
    assert target.read_bytes() == b"\x00\x01" and stat.S_IMODE(target.stat().st_mode) == 0o600


def test_creates_the_directory_only_when_asked(tmp_path):
    target = tmp_path / "new" / "dir" / "f"
    with pytest.raises(FileNotFoundError):
        files.write_atomic(str(target), "x")
    files.write_atomic(str(target), "x", makedirs=True)
    assert target.read_text() == "x"


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "keep"
    target.write_text("old")
    with pytest.raises(TypeError):
        files.write_atomic(str(target), 42)
    assert target.read_text() == "old" and os.listdir(tmp_path) == ["keep"]


NOBODY = 65534  # Debian's nobody and nogroup: another owner than the one writing (root)


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a file to another user needs root")
def test_owner_and_group_by_id(tmp_path):
    target = tmp_path / "owned"
    files.write_atomic(str(target), "x", owner=NOBODY, group=NOBODY, mode=0o640)
    assert (target.stat().st_uid, target.stat().st_gid) == (NOBODY, NOBODY)  # not root's, who wrote it
    assert stat.S_IMODE(target.stat().st_mode) == 0o640 and target.read_text() == "x"
    files.write_atomic(str(target), "y", group=0)  # owner=None keeps ours (root): the new file is root:root
    assert (target.stat().st_uid, target.stat().st_gid) == (0, 0)


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a file to another user needs root")
def test_owner_and_group_by_name(tmp_path):
    import grp
    import pwd

    user, group = pwd.getpwuid(NOBODY).pw_name, grp.getgrgid(NOBODY).gr_name  # nobody, nogroup
    target = tmp_path / "named"
    files.write_atomic(str(target), "x", owner=user, group=group)
    assert (target.stat().st_uid, target.stat().st_gid) == (NOBODY, NOBODY)
    files.write_atomic(str(target), "y", owner=user)  # group=None: the writer's group, not the old file's
    assert (target.stat().st_uid, target.stat().st_gid) == (NOBODY, os.getegid())


def test_read_text_of_a_missing_file_is_none(tmp_path):
    assert files.read_text(str(tmp_path / "none")) is None
    (tmp_path / "f").write_text("y")
    assert files.read_text(str(tmp_path / "f")) == "y"


def test_write_in_returns_the_path_written(tmp_path):
    path = files.write_in(str(tmp_path), "report.json", "{}\n")
    assert path == str(tmp_path / "report.json") and (tmp_path / "report.json").read_text() == "{}\n"
