# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Restores (module_utils/backup/restore.py): the snapshot and what it holds, paths that stay inside the client's
data, the root-only staging copy without owners or setuid bits, the copy and the import as the tenant."""

from __future__ import annotations

import json

import pytest
from ansible_collections.fracto.hosting.plugins.module_utils.backup import restore

JOB = {"client": "c1", "home": "/srv/www/c1", "spool": "/var/lib/fracto/backup/spool/demo/c1.web", "databases": ["c1_db"],
       "mailboxes": [{"address": "info@c1.test", "home": "/var/vmail/c1.test/info"}]}
SNAPSHOTS = [{"id": "aaaa1111" + "0" * 56, "short_id": "aaaa1111", "time": "2026-11-28T10:00:00Z"},
             {"id": "bbbb2222" + "0" * 56, "short_id": "bbbb2222", "time": "2026-11-29T10:00:00Z"}]


def test_choose_snapshot_latest_by_id_and_unknown():
    assert restore.choose_snapshot(SNAPSHOTS, "latest", "c1")["short_id"] == "bbbb2222"
    assert restore.choose_snapshot(SNAPSHOTS, "aaaa", "c1")["short_id"] == "aaaa1111"
    with pytest.raises(restore.RestoreError, match="unknown snapshot deadbeef of c1"):
        restore.choose_snapshot(SNAPSHOTS, "deadbeef", "c1")
    with pytest.raises(restore.RestoreError, match="no snapshot yet"):
        restore.choose_snapshot([], "latest", "c1")


def test_restore_plan_stays_inside_the_clients_data():
    assert restore.restore_plan(JOB, "files")["include"] == "/srv/www/c1"
    assert restore.restore_plan(JOB, "files", path="c1.test/public/x.html")["include"] == "/srv/www/c1/c1.test/public/x.html"
    with pytest.raises(restore.RestoreError, match="without . or .."):
        restore.restore_plan(JOB, "files", path="../c2/secret")
    assert restore.restore_plan(JOB, "database", name="c1_db")["include"] == "/var/lib/fracto/backup/spool/demo/c1.web/c1_db.sql"
    with pytest.raises(restore.RestoreError, match="database c2_db is not one of client c1"):
        restore.restore_plan(JOB, "database", name="c2_db")
    assert restore.restore_plan(JOB, "mailbox", name="info@c1.test", folder="Archive/2024")["include"] == \
        "/var/vmail/c1.test/info/Maildir/.Archive.2024"
    with pytest.raises(restore.RestoreError, match="mailbox hola@c2.test is not one of client c1"):
        restore.restore_plan(JOB, "mailbox", name="hola@c2.test")
    with pytest.raises(restore.RestoreError, match="not an IMAP folder"):
        restore.restore_plan(JOB, "mailbox", name="info@c1.test", folder="../x")


def test_entries_under_reads_restic_ls_json():
    listing = "\n".join(json.dumps(n) for n in [
        {"struct_type": "snapshot", "id": "x"},
        {"struct_type": "node", "path": "/srv/www/c1"},
        {"struct_type": "node", "path": "/srv/www/c1/a.html"},
        {"struct_type": "node", "path": "/srv/www/c10/b.html"},
    ])
    assert restore.entries_under(listing, "/srv/www/c1") == ["/srv/www/c1", "/srv/www/c1/a.html"]


# --- staging, no owners or setuid bits, as the tenant -----------------------------------------------------------

def _member(name, kind=None, mode=0o644, linkname=""):
    import tarfile

    member = tarfile.TarInfo(name)
    member.type = kind or tarfile.REGTYPE
    member.mode, member.uid, member.gid, member.uname, member.gname, member.linkname = mode, 0, 0, "root", "root", linkname
    return member


def test_member_filter_drops_owners_setuid_devices_and_escaping_links():
    import tarfile

    kept = restore.member_filter(_member("a/run", mode=0o4755))
    assert kept.mode == 0o755 and kept.uid == 0 and kept.uname == "" and kept.gname == ""
    assert restore.member_filter(_member("a/dir", tarfile.DIRTYPE, mode=0o3775)).mode == 0o775
    for kind in (tarfile.CHRTYPE, tarfile.BLKTYPE, tarfile.FIFOTYPE):
        assert restore.member_filter(_member("a/dev", kind)) is None
    assert restore.member_filter(_member("a/l", tarfile.SYMTYPE, linkname="../../../../etc/shadow")) is None
    assert restore.member_filter(_member("a/l", tarfile.SYMTYPE, linkname="/etc/shadow")) is None
    assert restore.member_filter(_member("a/l", tarfile.SYMTYPE, linkname="../b/x")) is not None
    assert restore.member_filter(_member("a/l", tarfile.SYMTYPE, linkname="b/x"), allow_symlinks=False) is None
    assert restore.member_filter(_member("../x")) is None
    assert restore.member_filter(_member("/etc/x")) is None
    assert restore.member_filter(_member("a/h", tarfile.LNKTYPE, linkname="../../etc/shadow")) is None


def test_the_staging_copy_is_sanitised_and_streamed_without_owners_or_setuid(tmp_path):
    import io
    import os
    import tarfile

    tree = tmp_path / "staging" / "srv" / "www" / "c1" / "site"
    tree.mkdir(parents=True)
    (tree / "index.php").write_text("<?php\n")
    (tree / "suid").write_text("x")
    os.chmod(tree / "suid", 0o6755)
    os.mkfifo(tree / "fifo")
    os.symlink("/etc/shadow", tree / "out")
    os.symlink("index.php", tree / "in")
    assert restore.sanitize_staging(str(tmp_path / "staging")) == 1
    assert not (tree / "fifo").exists() and (tree / "suid").stat().st_mode & 0o7777 == 0o755
    buffer = io.BytesIO()
    counts = restore.stream_tree(str(tree), "site", buffer)
    buffer.seek(0)
    members = {m.name: m for m in tarfile.open(fileobj=buffer, mode="r:")}
    assert sorted(members) == ["site", "site/in", "site/index.php", "site/suid"] and counts["left_out"] == 1
    assert all(m.uid == 0 and m.gid == 0 and not m.uname and not m.mode & 0o7000 for m in members.values())


def test_the_copy_and_the_import_run_as_the_tenant_never_as_root():
    argv = restore.extract_argv(1001, 1001, "/srv/www/c1")
    assert argv[:6] == ["setpriv", "--reuid=1001", "--regid=1001", "--clear-groups", "--no-new-privs", "--"]
    assert "--no-same-owner" in argv and "--no-same-permissions" in argv and argv[6] == "tar"
    for uid, gid in ((0, 1001), (1001, 0), (None, 1)):
        with pytest.raises(restore.RestoreError):
            restore.extract_argv(uid, gid, "/srv/www/c1")
    db = restore.import_argv(1001, 1001, "c1_db", "c1_web")
    assert db[6:] == ["mariadb", "--user=c1_web", "--database=c1_db", "--batch"]
    for user in ("root", "ROOT", "mysql", "c1 web", "", None):
        with pytest.raises(restore.RestoreError):
            restore.import_argv(1001, 1001, "c1_db", user)


def test_restic_restore_goes_to_staging_with_the_snapshot_after_the_end_of_options():
    args = restore.restic_restore_args("ab" * 32, "/var/lib/fracto/backup/restore/x", "/srv/www/c1")
    assert args == ["restore", "--target=/var/lib/fracto/backup/restore/x", "--include=/srv/www/c1", "--", "ab" * 32]
    with pytest.raises(restore.RestoreError):
        restore.restic_restore_args("--target=/", "/x", "/srv/www/c1")
    assert restore.staging_problem("/var/lib/fracto/backup/restore", ["/srv/www", "/var/vmail"]) is None
    assert restore.staging_problem("/srv/www/c1/tmp", ["/srv/www", "/var/vmail"])
    assert restore.staging_problem("/srv", ["/srv/www"])


@pytest.mark.parametrize("reseller, client, snapshot", [
    ("../x", "c1", "latest"), ("demo", "c1/..", "latest"), ("demo", "c1", "--target=/"), ("demo", "c1", "abc"),
    ("demo", "c1\n", "latest"),
])
def test_restore_parameters_are_checked_whole(reseller, client, snapshot):
    assert restore.check_params(reseller, client, snapshot)


def test_restore_paths_and_folders_with_control_characters_are_refused():
    with pytest.raises(restore.RestoreError):
        restore.restore_plan(JOB, "files", path="a/\nb")
    with pytest.raises(restore.RestoreError):
        restore.restore_plan(JOB, "mailbox", name="info@c1.test", folder="Archive\n")
    with pytest.raises(restore.RestoreError):
        restore.restore_plan(JOB, "mailbox", name="info@c1.test", folder="a/../../x")
