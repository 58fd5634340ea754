# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one write -> check -> roll back step of the writer modules (module_utils/transaction.py): web_sites, mail_server
and ip_bindings write through it; on a failed check every file is back as it was (content, mode, owner, symlink or
absence) and the checker's message is the failure."""

from __future__ import annotations

import os
import stat

import pytest
from ansible_collections.fracto.hosting.plugins.module_utils.transaction import Transaction

OTHER_UID, OTHER_GID = 4321, 4322  # not the test's own ids: a restore that forgot the owner would be seen


def tree(tmp_path):
    """{name: (content, mode, uid, gid) or ("->", target)} of every entry below tmp_path."""
    out = {}
    for root, _dirs, names in os.walk(tmp_path):
        for name in names:
            path = os.path.join(root, name)
            key = os.path.relpath(path, tmp_path)
            info = os.lstat(path)
            if stat.S_ISLNK(info.st_mode):
                out[key] = ("->", os.readlink(path))
            else:
                with open(path, "rb") as handle:
                    out[key] = (handle.read(), stat.S_IMODE(info.st_mode), info.st_uid, info.st_gid)
    return out


@pytest.fixture
def site(tmp_path):
    """An existing config (0640, another owner when we are root), one to remove, a symlink, and a new file's place."""
    (tmp_path / "nginx").mkdir()
    kept = tmp_path / "nginx" / "a.conf"
    kept.write_text("server a;\n")
    os.chmod(kept, 0o640)
    if os.geteuid() == 0:
        os.chown(kept, OTHER_UID, OTHER_GID)
    (tmp_path / "nginx" / "gone.conf").write_text("server gone;\n")
    (tmp_path / "nginx" / "link.conf").symlink_to("a.conf")
    return tmp_path


def writes_of(tmp_path):
    return {str(tmp_path / "nginx" / "a.conf"): "server a2;\n", str(tmp_path / "nginx" / "new.conf"): "server new;\n",
            str(tmp_path / "nginx" / "link.conf"): "server link;\n", str(tmp_path / "sub" / "deep.conf"): "x\n"}


def test_written_and_checked_the_files_stay_as_written(site):
    checked = []
    tx = Transaction()
    failure = tx.apply(writes_of(site), [str(site / "nginx" / "gone.conf")], lambda: checked.append(tree(site)), makedirs=True)
    assert failure is None
    after = tree(site)
    assert checked == [after]  # the checker saw the new files
    assert after["nginx/a.conf"][0] == b"server a2;\n" and after["nginx/new.conf"][0] == b"server new;\n"
    assert after["nginx/link.conf"][0] == b"server link;\n" and after["sub/deep.conf"][0] == b"x\n"
    assert "nginx/gone.conf" not in after
    assert tx.touched == list(writes_of(site)) + [str(site / "nginx" / "gone.conf")]


def test_a_failed_check_puts_every_file_back_exactly_and_returns_its_message(site):
    before = tree(site)
    failure = Transaction().apply(writes_of(site), [str(site / "nginx" / "gone.conf")],
                                  lambda: "nginx -t failed: unknown directive", makedirs=True)
    assert failure == "nginx -t failed: unknown directive"
    assert tree(site) == before  # content, mode, owner; the symlink a symlink again; new files removed
    if os.geteuid() == 0:
        assert before["nginx/a.conf"][1:] == (0o640, OTHER_UID, OTHER_GID)
    assert not (site / "nginx" / "new.conf").exists() and not (site / "sub" / "deep.conf").exists()


def test_a_checker_that_raises_oserror_is_a_failure_and_rolled_back(site):
    before = tree(site)

    def check():
        raise FileNotFoundError(2, "No such file or directory", "nginx")

    failure = Transaction().apply(writes_of(site), (), check, makedirs=True)
    assert failure == "writing the configuration failed: [Errno 2] No such file or directory: 'nginx'"
    assert tree(site) == before


def test_any_other_exception_of_the_checker_is_raised_after_the_rollback(site):
    before = tree(site)

    def check():
        raise SystemExit(1)  # a module's fail_json from inside the check

    with pytest.raises(SystemExit):
        Transaction().apply(writes_of(site), (), check, makedirs=True)
    assert tree(site) == before


def test_a_write_that_fails_half_way_puts_back_the_files_already_written(site):
    before = tree(site)
    written = []

    def write(path, content, **kwargs):
        if written:
            raise PermissionError(13, "Permission denied", path)
        written.append(path)
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(content)

    failure = Transaction(write=write).apply({str(site / "nginx" / "a.conf"): "changed\n", str(site / "nginx" / "b.conf"): "b\n"})
    assert failure.startswith("writing the configuration failed: [Errno 13] Permission denied")
    assert written == [str(site / "nginx" / "a.conf")] and tree(site) == before


def test_the_module_s_writer_gets_its_arguments_and_undo_actions_run_last_done_first(tmp_path):
    calls, undone = [], []
    tx = Transaction(write=lambda path, content, **kw: calls.append((path, content, kw)))
    tx.undo(undone.append, "reload")

    def change():
        tx.write(str(tmp_path / "main.cf"), "a\n", mode=0o600)
        tx.undo(undone.append, "del 198.51.100.1")
        raise RuntimeError("ip addr replace 198.51.100.2/32 dev eth0 failed: busy")

    failure = tx.run(change, errors=(RuntimeError, OSError), failed="%s")
    assert failure == "ip addr replace 198.51.100.2/32 dev eth0 failed: busy"
    assert calls == [(str(tmp_path / "main.cf"), "a\n", {"mode": 0o600})]
    assert undone == ["del 198.51.100.1", "reload"]
    assert tx.touched == []  # rolled back: a second rollback does nothing


def test_a_failing_restore_does_not_stop_the_others_and_is_raised(tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    first.write_text("1")
    tx = Transaction()
    tx.write(str(first), "1b")

    def failing_undo():
        raise OSError("undo failed")

    tx.undo(failing_undo)
    tx.write(str(second), "2")
    with pytest.raises(OSError, match="undo failed"):
        tx.rollback()
    assert first.read_text() == "1" and not second.exists()


def test_the_same_path_written_twice_is_put_back_as_it_was_first(tmp_path):
    target = tmp_path / "f"
    target.write_text("orig")
    tx = Transaction()
    tx.write(str(target), "one")
    tx.write(str(target), "two")
    assert tx.touched == [str(target)]
    tx.rollback()
    assert target.read_text() == "orig"


# -- a caller: ip_bindings puts back its file and the addresses it added ----------------------------------------------

class FailJson(Exception):
    pass


class FakeModule:
    def fail_json(self, **kwargs):
        raise FailJson(kwargs)


def test_ip_bindings_puts_back_its_file_and_the_addresses_it_added(tmp_path, monkeypatch):
    from ansible_collections.fracto.hosting.plugins.modules import ip_bindings

    path = tmp_path / "fracto-demo"
    path.write_text("# old stanza\n")
    os.chmod(path, 0o600)
    commands = []

    def ip(module, *args):
        commands.append(" ".join(args))
        return (1, "", "RTNETLINK answers: File exists\n") if "198.51.100.2/32" in args and "replace" in args else (0, "", "")

    monkeypatch.setattr(ip_bindings, "ip", ip)
    with pytest.raises(FailJson) as failed:
        ip_bindings.apply(FakeModule(), str(path), "# old stanza\n", "# new stanza\n", "eth0", ["198.51.100.1", "198.51.100.2"], [])
    assert failed.value.args[0] == {"msg": "ip addr replace 198.51.100.2/32 dev eth0 failed: RTNETLINK answers: File exists; "
                                           "the previous file and addresses were put back", "changes": []}
    assert path.read_text() == "# old stanza\n" and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert commands == ["-4 addr replace 198.51.100.1/32 dev eth0 label eth0:6401",
                        "-4 addr replace 198.51.100.2/32 dev eth0 label eth0:6402",
                        "-4 addr del 198.51.100.1/32 dev eth0"]
