# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Site migration never lets the old site or a client reach root or another tenant (docs/security.md).

The tests that drop privileges or create device files need root (the platform's modules run as root; so do CI and
the developers' machines); they are skipped elsewhere. The real-rsync test also needs rsync and rrsync installed.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import stat
import subprocess
import tempfile

import pytest
from ansible.module_utils.testing import patch_module_args
from ansible_collections.fracto.hosting.plugins.module_utils import lock
from ansible_collections.fracto.hosting.plugins.module_utils.migrate import clientfs, dbcopy, rsync
from ansible_collections.fracto.hosting.plugins.modules import site_config, site_database, site_inspect, site_sync

ROOT = os.geteuid() == 0
needs_root = pytest.mark.skipif(not ROOT, reason="drops privileges: needs root")
TENANT_A, TENANT_B, WEB_GID = 54321, 54322, 54400
SECRET = "UNIT-SECRET-OTHER-TENANT"


@pytest.fixture
def hosting():
    """/tmp/<random>/srv/www/{a,b}: a's and b's homes (2750, group 'web'), b's wp-config.php, a's docroot."""
    base = tempfile.mkdtemp(prefix="fracto-test-")
    os.chmod(base, 0o755)
    www = os.path.join(base, "srv", "www")
    os.makedirs(www)
    for path in (os.path.join(base, "srv"), www):
        os.chmod(path, 0o755)
    homes = {}
    for name, uid in (("a", TENANT_A), ("b", TENANT_B)):
        home = os.path.join(www, name)
        os.makedirs(os.path.join(home, "site", "public"))
        for directory in (home, os.path.join(home, "site"), os.path.join(home, "site", "public")):
            os.chown(directory, uid, WEB_GID)
            os.chmod(directory, 0o2750)
        homes[name] = os.path.join(home, "site", "public")
    other = os.path.join(homes["b"], "wp-config.php")
    with open(other, "w", encoding="utf-8") as handle:
        handle.write("<?php define('DB_PASSWORD', '%s');\n" % SECRET)
    os.chown(other, TENANT_B, TENANT_B)
    os.chmod(other, 0o600)
    yield {"base": base, "a": homes["a"], "b": homes["b"], "other": other}
    shutil.rmtree(base)


def snapshot(path):
    info = os.lstat(path)
    with open(path, "rb") as handle:
        return handle.read(), info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)


@needs_root
def test_config_written_as_the_client_cannot_reach_another_tenant_through_a_symlinked_docroot(hosting):
    # Client a swaps its docroot for a symlink to b's: root following it (write_atomic) would replace b's config.
    os.rename(hosting["a"], hosting["a"] + ".old")
    os.symlink(hosting["b"], hosting["a"])
    before = snapshot(hosting["other"])
    with pytest.raises(clientfs.ClientFsError, match="Permission denied"):
        clientfs.write_as(os.path.join(hosting["a"], "wp-config.php"), "<?php // a's\n", TENANT_A, TENANT_A)
    assert snapshot(hosting["other"]) == before
    assert os.listdir(hosting["b"]) == ["wp-config.php"]


@needs_root
def test_config_read_as_the_client_refuses_a_symlink_to_another_tenants_file(hosting):
    link = os.path.join(hosting["a"], "wp-config.php")
    os.symlink(hosting["other"], link)
    with pytest.raises(clientfs.ClientFsError, match="symlink"):
        clientfs.read_as(link, TENANT_A, TENANT_A)
    assert clientfs.read_as(os.path.join(hosting["a"], "missing.php"), TENANT_A, TENANT_A) is None
    # Even through a directory symlink (O_NOFOLLOW guards only the last component) the client's rights stop it.
    os.symlink(hosting["b"], os.path.join(hosting["a"], "b"))
    with pytest.raises(clientfs.ClientFsError, match="Permission denied"):
        clientfs.read_as(os.path.join(hosting["a"], "b", "wp-config.php"), TENANT_A, TENANT_A)


@needs_root
def test_config_written_as_the_client_replaces_a_planted_symlink_not_its_target(hosting):
    link = os.path.join(hosting["a"], "wp-config.php")
    os.symlink(hosting["other"], link)
    before = snapshot(hosting["other"])
    written = clientfs.write_as(link, "<?php // a's config\n", TENANT_A, TENANT_A, 0o640)
    assert written == {"uid": TENANT_A, "gid": WEB_GID, "mode": 0o640}  # the setgid docroot gives the web group
    assert not os.path.islink(link) and snapshot(link)[0] == b"<?php // a's config\n"
    assert snapshot(hosting["other"]) == before


@needs_root
def test_a_client_child_never_keeps_root_rights():
    assert clientfs.as_client(TENANT_A, TENANT_A, os.getresuid) == [TENANT_A] * 3
    assert clientfs.as_client(TENANT_A, TENANT_A, os.getgroups) == []
    with pytest.raises(clientfs.ClientFsError, match="root"):
        clientfs.as_client(0, 0, os.getuid)


@needs_root
def test_open_client_dir_refuses_symlinks_and_other_owners(hosting):
    fd = clientfs.open_client_dir(hosting["a"], TENANT_A)
    assert os.fstat(fd).st_uid == TENANT_A
    os.close(fd)
    with pytest.raises(clientfs.ClientFsError, match="not in the client's tree|owned by uid"):
        clientfs.open_client_dir(hosting["b"], TENANT_A)
    os.rename(hosting["a"], hosting["a"] + ".old")
    os.symlink(hosting["b"], hosting["a"])
    with pytest.raises(clientfs.ClientFsError, match="symlink"):
        clientfs.open_client_dir(hosting["a"], TENANT_A)


@needs_root
def test_fix_tree_sets_the_web_group_without_following_symlinks(hosting):
    top = hosting["a"]
    os.makedirs(os.path.join(top, "sub", "deeper"))
    with open(os.path.join(top, "sub", "style.css"), "w", encoding="utf-8") as handle:
        handle.write("body{}")
    os.symlink(hosting["other"], os.path.join(top, "sub", "evil"))
    os.symlink(os.path.dirname(hosting["other"]), os.path.join(top, "dirlink"))
    for path in (os.path.join(top, "sub"), os.path.join(top, "sub", "deeper")):
        os.chown(path, TENANT_A, TENANT_A)
        os.chmod(path, 0o750)
    for path in (os.path.join(top, "sub", "style.css"), os.path.join(top, "sub", "evil"), os.path.join(top, "dirlink")):
        os.lchown(path, TENANT_A, TENANT_A)
    before = snapshot(hosting["other"])
    fd = clientfs.open_client_dir(top, TENANT_A)
    try:
        changed = clientfs.fix_tree(fd, TENANT_A, WEB_GID)
    finally:
        os.close(fd)
    assert sorted(changed) == ["dirlink", "sub/", "sub/deeper/", "sub/evil", "sub/style.css"]
    assert os.stat(os.path.join(top, "sub", "deeper")).st_gid == WEB_GID
    assert stat.S_IMODE(os.stat(os.path.join(top, "sub")).st_mode) == 0o2750
    assert os.stat(os.path.join(top, "sub", "style.css")).st_gid == WEB_GID
    assert os.lstat(os.path.join(top, "sub", "evil")).st_gid == WEB_GID
    assert snapshot(hosting["other"]) == before  # the symlink's target kept its group and mode
    assert os.stat(os.path.dirname(hosting["other"])).st_gid == WEB_GID and os.stat(hosting["other"]).st_gid == TENANT_B
    fd = clientfs.open_client_dir(top, TENANT_A)
    assert clientfs.fix_tree(fd, TENANT_A, WEB_GID) == []  # a second pass changes nothing
    os.close(fd)


@needs_root
@pytest.mark.skipif(not (shutil.which("rsync") and os.path.exists("/usr/bin/rrsync") and shutil.which("runuser")),
                    reason="needs rsync, rrsync and runuser")
def test_real_rsync_receives_as_the_client_and_takes_only_content(hosting):
    """The module's rsync argv against a real rrsync -ro: devices, FIFOs, setuid bits, owners and symlinks leaving the tree stay out."""
    nobody = 65534
    old = os.path.join(hosting["base"], "home", "c1", "public_html")
    os.makedirs(os.path.join(old, "sub"))
    os.chmod(os.path.join(hosting["base"], "home"), 0o755)
    with open(os.path.join(old, "index.php"), "w", encoding="utf-8") as handle:
        handle.write("<?php echo 'hola';")
    with open(os.path.join(old, "sub", "a.txt"), "w", encoding="utf-8") as handle:
        handle.write("a")
    with open(os.path.join(old, "setuid"), "w", encoding="utf-8") as handle:
        handle.write("#!/bin/sh\n")
    os.chmod(os.path.join(old, "setuid"), 0o4755)
    os.mkfifo(os.path.join(old, "fifo"))
    os.mknod(os.path.join(old, "null"), 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    os.symlink(hosting["other"], os.path.join(old, "escape"))
    os.symlink("sub/a.txt", os.path.join(old, "inside"))
    for directory, dirs, files in os.walk(os.path.join(hosting["base"], "home")):
        os.lchown(directory, 0, 0)
        os.chmod(directory, 0o755)
        for name in files + dirs:
            if not os.path.islink(os.path.join(directory, name)) and os.path.isfile(os.path.join(directory, name)):
                os.chmod(os.path.join(directory, name), os.stat(os.path.join(directory, name)).st_mode | 0o444)
    dest = os.path.join(hosting["base"], "srv", "www", "n", "public")
    os.makedirs(dest)
    for path in (os.path.dirname(dest), dest):
        os.chown(path, nobody, WEB_GID)
        os.chmod(path, 0o2750)
    fake_ssh = os.path.join(hosting["base"], "fake-ssh")
    with open(fake_ssh, "w", encoding="utf-8") as handle:  # sshd's part: the key's forced command with SSH_ORIGINAL_COMMAND
        handle.write('#!/bin/sh\nwhile [ $# -gt 0 ]; do case "$1" in -[oilpF]) shift 2;; --) shift;; -*) shift;; *) shift; break;; esac; done\n'
                     'SSH_ORIGINAL_COMMAND="$*" exec /usr/bin/rrsync -ro %s\n' % old)
    os.chmod(fake_ssh, 0o755)
    command = rsync.rsync_command("root@legacy01", dest, "/k", "/kh", "nobody")
    command = [fake_ssh if c.startswith("--rsh=") else c for c in command]
    command[command.index(fake_ssh)] = "--rsh=" + fake_ssh
    done = subprocess.run(command, capture_output=True, text=True, cwd="/", check=False)
    assert done.returncode == 0, done.stderr
    parsed = rsync.parse_itemized(done.stdout)
    assert sorted(parsed["copied"]) == ["index.php", "setuid", "sub/a.txt"]
    assert sorted(os.listdir(dest)) == ["index.php", "inside", "setuid", "sub"]  # no FIFO, no device, no escaping link
    for name in ("index.php", "setuid", "sub/a.txt"):
        info = os.stat(os.path.join(dest, name))
        assert info.st_uid == nobody and stat.S_IMODE(info.st_mode) == 0o640  # the client's, no setuid bit
    fd = clientfs.open_client_dir(dest, nobody)
    try:
        clientfs.fix_tree(fd, nobody, WEB_GID)
    finally:
        os.close(fd)
    assert os.stat(os.path.join(dest, "sub", "a.txt")).st_gid == WEB_GID
    assert stat.S_IMODE(os.stat(os.path.join(dest, "sub")).st_mode) == 0o2750


# Dumps are hostile content.
HOSTILE_DUMP = b"""-- MariaDB dump
/*!40101 SET NAMES utf8mb4 */;
CREATE TABLE `t` (`id` int);
INSERT INTO `t` VALUES (1);
USE `cliente2_db`;
CREATE DATABASE `evil`;
GRANT ALL ON *.* TO 'c1'@'%' IDENTIFIED BY 'UNIT-SECRET-GRANT';
/*!50013 DEFINER=`root`@`localhost` SQL SECURITY DEFINER */
\\! sh -c 'id > /tmp/pwned'
system id
LOAD DATA LOCAL INFILE '/etc/shadow' INTO TABLE t;
SELECT * FROM t INTO OUTFILE '/var/www/x';
"""


def test_a_hostile_dump_is_cleaned_of_definers_and_its_statements_reported():
    out = io.BytesIO()
    findings = dbcopy.clean_dump(io.BytesIO(HOSTILE_DUMP), out)
    assert b"DEFINER=" not in out.getvalue() and b"INSERT INTO `t` VALUES (1);" in out.getvalue()
    assert [f.split(":", 1)[0] for f in findings] == ["line 5", "line 6", "line 7", "line 9", "line 10", "line 11", "line 12"]
    assert "UNIT-SECRET" not in json.dumps(findings)


def test_clean_dump_bounds_its_lines():
    out = io.BytesIO()
    dbcopy.clean_dump(io.BytesIO(b"x" * 100 + b"\n"), out, line_limit=16)
    assert out.getvalue() == b"x" * 100 + b"\n"


def test_the_dump_is_imported_by_the_clients_user_never_by_root():
    argv = dbcopy.import_argv("cliente1", "/run/fracto-migrate-x/my.cnf", "cliente1_db")
    assert argv[:5] == ["runuser", "-u", "cliente1", "--", "mysql"]
    assert argv[5] == "--defaults-file=/run/fracto-migrate-x/my.cnf"  # first: only our options, the database user's
    assert "--binary-mode" in argv and "--local-infile=0" in argv and argv[-2:] == ["--", "cliente1_db"]


@needs_root
def test_the_import_options_file_is_the_clients_alone(tmp_path):
    root = tempfile.mkdtemp(prefix="fracto-test-run-")
    os.chmod(root, 0o755)  # like /run
    try:
        directory, path = site_database.options_file("cliente1_db", "UNIT-SECRET", TENANT_A, TENANT_A, root=root)
        assert stat.S_IMODE(os.stat(directory).st_mode) == 0o711 and os.stat(directory).st_uid == 0
        info = os.stat(path)
        assert (info.st_uid, stat.S_IMODE(info.st_mode)) == (TENANT_A, 0o400)
        assert clientfs.as_client(TENANT_A, TENANT_A, lambda p: open(p, encoding="utf-8").read(), path).startswith("[client]")
        with pytest.raises(clientfs.ClientFsError, match="Permission denied"):
            clientfs.as_client(TENANT_B, TENANT_B, lambda p: open(p, encoding="utf-8").read(), path)
    finally:
        shutil.rmtree(root)


# Every writer holds the host lock; every value is checked before anything runs.
WRITERS = {
    site_sync: {"source": "root@legacy01", "key": "/k", "known_hosts": "/kh", "path": "/home/c1/public_html",
                "dest": "/srv/www/c1/c1.test/public", "owner": "cliente1", "client": "cliente1"},
    site_config: {"path": "/srv/www/c1/c1.test/public/wp-config.php", "kind": "wordpress", "content": "<?php",
                  "database": {"name": "c1_db", "user": "c1_db", "password": "UNIT-SECRET"}, "owner": "cliente1", "client": "cliente1"},
    site_database: {"source": "root@legacy01", "key": "/k", "known_hosts": "/kh", "source_database": "c1_db", "target_database": "c1_db",
                    "target_user": "c1_db", "target_password": "UNIT-SECRET", "run_as": "cliente1", "client": "cliente1"},
}


def run_module(module, args, monkeypatch, capsys):
    with patch_module_args(args), pytest.raises(SystemExit):
        module.main()
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("module", list(WRITERS), ids=lambda m: m.__name__.rsplit(".", 1)[-1])
def test_every_writer_runs_under_the_host_lock(module, monkeypatch, capsys):
    held = []

    def locked(ansible_module, name, body, reseller=None):
        held.append(name)
        return {"changed": False}

    monkeypatch.setattr(lock, "run_locked", locked)
    result = run_module(module, WRITERS[module], monkeypatch, capsys)
    assert result.get("failed") is not True, result
    assert held == ["%s cliente1" % module.__name__.rsplit(".", 1)[-1]]


@pytest.mark.parametrize("module, field, value", [
    (site_sync, "source", "-oProxyCommand=touch /tmp/x@legacy01"),
    (site_sync, "dest", "/srv/www/c1/../c2/public"),
    (site_sync, "client", "cliente1\n"),
    (site_sync, "exclude", ["../../etc"]),
    (site_config, "path", "/srv/www/c1/x/../../c2/wp-config.php"),
    (site_config, "owner", "www data"),
    (site_database, "target_database", "c2_db`; DROP DATABASE c1_db; --"),
    (site_database, "source_database", "--all-databases"),
    (site_database, "run_as", "-u root"),
], ids=lambda v: v if isinstance(v, str) else None)
def test_writers_refuse_hostile_values_before_anything_runs(module, field, value, monkeypatch, capsys):
    monkeypatch.setattr(lock, "run_locked", lambda *a, **k: pytest.fail("ran with a hostile value"))
    result = run_module(module, dict(WRITERS[module], **{field: value}), monkeypatch, capsys)
    assert result["failed"] is True and field in result["msg"] and "refused" in result["msg"]
    assert "UNIT-SECRET" not in json.dumps(result)


def test_secret_options_are_no_log():
    for module in (site_config, site_database, site_inspect, site_sync):
        source = open(module.__file__, encoding="utf-8").read()
        for option in ("content=dict", "password=dict", "target_password=dict"):
            if option in source:
                line = [line for line in source.splitlines() if option in line][0]
                assert "no_log=True" in line, line


def config_args(path):
    return {"path": path, "kind": "wordpress", "owner": "cliente1", "client": "cliente1", "_ansible_diff": True,
            "content": "<?php\ndefine('DB_NAME', 'old');\ndefine('DB_USER', 'old');\ndefine('DB_PASSWORD', 'UNIT-SECRET-OLD');\n"
                       "define('DB_HOST', 'db.old');\ndefine('AUTH_KEY', 'UNIT-SECRET-KEY');\ndefine('NONCE_SALT', 'UNIT-SECRET-SALT');\n",
            "database": {"name": "c1_db", "user": "c1_db", "password": "UNIT-SECRET-NEW"}}


@needs_root
def test_site_config_writes_as_the_client_and_never_through_a_swapped_docroot(hosting, monkeypatch, capsys):
    monkeypatch.setattr(site_config, "client_account", lambda name: (TENANT_A, TENANT_A, "/srv/www/a"))
    monkeypatch.setattr(lock, "run_locked", lambda module, name, body, reseller=None: body())
    path = os.path.join(hosting["a"], "wp-config.php")
    result = run_module(site_config, config_args(path), monkeypatch, capsys)
    assert result["changed"] is True and "UNIT-SECRET" not in json.dumps(result)  # diff included, masked
    info = os.stat(path)
    assert (info.st_uid, stat.S_IMODE(info.st_mode)) == (TENANT_A, 0o640)
    assert "define('DB_PASSWORD', 'UNIT-SECRET-NEW');" in open(path, encoding="utf-8").read()
    assert run_module(site_config, config_args(path), monkeypatch, capsys)["changed"] is False
    # The client swaps its docroot for a symlink to b's: the write, as the client, is refused; b's file is intact.
    before = snapshot(hosting["other"])
    os.rename(hosting["a"], hosting["a"] + ".old")
    os.symlink(hosting["b"], hosting["a"])
    result = run_module(site_config, config_args(path), monkeypatch, capsys)
    assert result["failed"] is True and "Permission denied" in result["msg"] and SECRET not in json.dumps(result)
    assert snapshot(hosting["other"]) == before and os.listdir(hosting["b"]) == ["wp-config.php"]


@pytest.fixture
def old_site():
    """An old host's /home/c1/public_html owned by TENANT_A, with a config and a symlink to root's secret."""
    base = tempfile.mkdtemp(prefix="fracto-test-old-")
    os.chmod(base, 0o755)
    site = os.path.join(base, "home", "c1", "public_html")
    os.makedirs(site)
    for path in (os.path.join(base, "home"), os.path.dirname(site)):
        os.chmod(path, 0o755)
    os.chown(site, TENANT_A, TENANT_A)
    with open(os.path.join(site, "configuration.php"), "w", encoding="utf-8") as handle:
        handle.write("<?php class JConfig { public $host = 'localhost'; public $user = 'j'; public $password = 'UNIT-SECRET'; "
                     "public $db = 'j'; }")
    os.chown(os.path.join(site, "configuration.php"), TENANT_A, TENANT_A)
    secret = os.path.join(base, "root-secret")
    with open(secret, "w", encoding="utf-8") as handle:
        handle.write("<?php define('DB_NAME', 'x'); define('DB_USER', 'x'); define('DB_PASSWORD', '%s'); define('DB_HOST', 'x');" % SECRET)
    os.chmod(secret, 0o600)
    os.symlink(secret, os.path.join(site, "wp-config.php"))
    yield {"base": base, "site": site}
    shutil.rmtree(base)


def inspect_args(site, **extra):
    return dict({"path": site, "rrsync": "/bin/sh", "setpriv": "/bin/sh"}, **extra)


@needs_root
def test_inspect_reads_the_old_site_as_its_owner_and_builds_the_forced_command(old_site, monkeypatch, capsys):
    result = run_module(site_inspect, inspect_args(old_site["site"]), monkeypatch, capsys)
    assert result["owner"]["uid"] == TENANT_A
    assert result["forced_commands"]["files"] == ("/bin/sh --reuid=%d --regid=%d --clear-groups --no-new-privs -- /bin/sh -ro %s"
                                                  % (TENANT_A, TENANT_A, old_site["site"]))
    assert [c["file"] for c in result["config_files"]] == ["configuration.php"]  # the symlink to root's file was not read
    assert SECRET not in json.dumps(result)
    result = run_module(site_inspect, inspect_args(old_site["site"], read="wp-config.php"), monkeypatch, capsys)
    assert result["failed"] is True and "symlink" in result["msg"] and SECRET not in json.dumps(result)


@needs_root
def test_inspect_refuses_a_directory_of_root_another_account_or_through_a_symlink(old_site, monkeypatch, capsys):
    result = run_module(site_inspect, inspect_args(old_site["site"], owner="cliente1"), monkeypatch, capsys)
    assert result["failed"] is True and "not to the client's old account cliente1" in result["msg"]
    os.chown(old_site["site"], 0, 0)
    result = run_module(site_inspect, inspect_args(old_site["site"]), monkeypatch, capsys)
    assert result["failed"] is True and "not to a client" in result["msg"]
    link = os.path.join(old_site["base"], "home", "c2")
    os.symlink("/etc", link)
    result = run_module(site_inspect, inspect_args(link), monkeypatch, capsys)
    assert result["failed"] is True and "goes through a symlink" in result["msg"]
