# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""backup_jobs and backup_restore as modules (issue 12): hostile values refused before the lock and any write, the
writing part under the host lock, jobs no_log yet the result names each job (repositories redacted), job records
root-only, restores through a root-only staging area and copied in as the tenant."""

from __future__ import annotations

import json
import os
import pwd
import shutil
import stat
import subprocess
import tempfile
from types import SimpleNamespace

import pytest
from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args
from ansible_collections.fracto.hosting.plugins.module_utils import lock
from ansible_collections.fracto.hosting.plugins.modules import backup_jobs, backup_restore

SECRET = "UNIT-SECRET"
REST = "rest:https://restic:pw-%s@rest.backup.test:8000/c1/" % SECRET
KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\n%s-KEY\n-----END OPENSSH PRIVATE KEY-----" % SECRET
KNOWN = "backup.test ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIUNITKEY22\n"


@pytest.fixture
def held(held, forbid):
    """conftest's held (another run holds the host lock), and backup_jobs' writer forbidden too."""
    forbid(backup_jobs, "write_atomic")
    return held


@pytest.fixture
def free_lock(monkeypatch, tmp_path):
    """A real host lock, in the test's directory."""
    real = lock.host_lock
    taken = []

    def local(name, reseller=None, **kw):
        taken.append((name, reseller))
        return real(name, reseller=reseller, wait=1, path=str(tmp_path / "run" / "host.lock"))

    monkeypatch.setattr(lock, "host_lock", local)
    return taken


def run(capsys, module, args):
    with patch_module_args(args), pytest.raises(SystemExit):
        module.main()
    return json.loads(capsys.readouterr().out)


def jobs_args(tmp_path, **extra):
    args = {
        "jobs": [{"client": "c1", "side": "web", "what": ["files", "databases"], "repository": REST,
                  "keep": {"daily": 7}, "managed_by": "client"},
                 {"client": "c2", "side": "web", "what": ["files"], "repository": "sftp:restic@backup.test:/srv/restic/c2",
                  "keep": {"daily": 7}, "managed_by": "reseller"}],
        "passwords": {"c1/web": "restic-%s-1" % SECRET, "c2/web": "restic-%s-2" % SECRET},
        "ssh_key": KEY, "known_hosts": KNOWN, "reseller": "demo", "clients": ["c1", "c2"], "host": "cloud01",
        "databases": [{"name": "c1_db", "client": "c1"}],
    }
    for name in ("config_dir", "status_dir", "spool_dir", "cache_dir", "units_dir"):
        args[name] = str(tmp_path / name)
    args["runner"] = str(tmp_path / "sbin" / "fracto-backup-job")
    args["web_root"] = str(tmp_path / "www")
    args["vmail_home"] = str(tmp_path / "vmail")
    args.update(extra)
    return args


@pytest.mark.parametrize("change, rule", [
    ({"repository": "sftp:-oProxyCommand=touch /tmp/pwned@backup.test:/srv/r"}, "backup job c1/web: repository"),
    ({"repository": "sftp:restic@-oProxyCommand=id:/srv/r"}, "backup job c1/web: repository"),
    ({"repository": "sftp:restic@other.test:/srv/r"}, "is not pinned in fracto_ssh_known_hosts"),
    ({"client": "../../etc"}, "client id refused"),
])
def test_backup_jobs_refuses_hostile_jobs_before_the_lock_and_any_write(held, capsys, tmp_path, change, rule):
    args = jobs_args(tmp_path)
    args["jobs"][0].update(change)
    result = run(capsys, backup_jobs, args)
    assert result.get("failed") and rule in result["msg"] and "nothing was changed" in result["msg"], result
    assert held == [] and list(tmp_path.iterdir()) == []
    assert SECRET not in json.dumps(result)


def test_backup_jobs_refuses_a_mailbox_that_would_leave_the_vmail_root(held, capsys, tmp_path):
    result = run(capsys, backup_jobs, jobs_args(tmp_path, mailboxes=[{"address": "../../etc@c1.test", "client": "c1"}]))
    assert result.get("failed") and "mailbox: mailbox address refused" in result["msg"], result
    assert held == []


def test_backup_jobs_writes_only_under_the_host_lock(held, capsys, tmp_path):
    result = run(capsys, backup_jobs, jobs_args(tmp_path))
    assert result.get("failed") and "another run holds the host lock" in result["msg"], result
    assert held == [("fracto.hosting.backup_jobs", "demo")] and list(tmp_path.iterdir()) == []
    assert SECRET not in json.dumps(result)


def _quiet_host(monkeypatch, calls):
    def run_command(self, args, **kwargs):
        calls.append(list(args))
        return (1, "", "") if "is-enabled" in args or "is-active" in args else (0, "", "")

    monkeypatch.setattr(basic.AnsibleModule, "run_command", run_command)
    monkeypatch.setattr(basic.AnsibleModule, "get_bin_path", lambda self, name, *a, **k: None)


def test_jobs_is_no_log_yet_the_result_names_each_job_with_its_repository_redacted(monkeypatch, capsys, tmp_path):
    spec = {}
    real_init = basic.AnsibleModule.__init__

    def spy(self, argument_spec=None, **kwargs):
        spec.update(argument_spec)
        real_init(self, argument_spec=argument_spec, **kwargs)

    monkeypatch.setattr(basic.AnsibleModule, "__init__", spy)
    _quiet_host(monkeypatch, [])
    result = run(capsys, backup_jobs, dict(jobs_args(tmp_path), _ansible_check_mode=True, _ansible_diff=True))
    assert spec["jobs"].get("no_log") is True
    assert not result.get("failed"), result
    ids = {c["id"] for c in result["changes"]}
    assert {"c1/web", "c2/web"} <= ids, result["changes"]
    text = json.dumps(result)
    assert SECRET not in text and "pw-" not in text
    c1 = next(c for c in result["changes"] if c["id"] == "c1/web")
    assert any("rest:https://restic:****@rest.backup.test:8000/c1/" in d for d in c1["detail"]), c1
    assert "--keep-daily 7" in json.dumps(c1)  # the keep policy's "7" is not masked either
    assert "restic:****@rest.backup.test" in result["diff"]["after"] and "(secret, not shown)" in result["diff"]["after"]
    assert list(tmp_path.iterdir()) == []  # check mode wrote nothing


def test_a_real_run_makes_job_records_and_their_directories_root_only(monkeypatch, capsys, tmp_path, free_lock):
    calls = []
    _quiet_host(monkeypatch, calls)
    (tmp_path / "units_dir").mkdir()
    records = tmp_path / "status_dir" / "demo"
    records.mkdir(parents=True)
    os.chmod(tmp_path / "status_dir", 0o755)
    os.chmod(records, 0o755)
    old = records / "c1.web.json"
    old.write_text(json.dumps({"repository": REST}))
    os.chmod(old, 0o644)
    result = run(capsys, backup_jobs, jobs_args(tmp_path))
    assert not result.get("failed"), result
    assert free_lock == [("fracto.hosting.backup_jobs", "demo")]
    for path in (tmp_path / "status_dir", records, tmp_path / "config_dir", tmp_path / "config_dir" / "demo"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o700, path
    assert stat.S_IMODE(old.stat().st_mode) == 0o600
    assert any(c["id"] == "job records" for c in result["changes"])
    for name in ("c1.web.json", "c1.web.password"):
        assert stat.S_IMODE((tmp_path / "config_dir" / "demo" / name).stat().st_mode) == 0o600
    known = tmp_path / "config_dir" / "ssh" / "known_hosts"
    assert known.read_text() == KNOWN and stat.S_IMODE(known.stat().st_mode) == 0o600
    assert SECRET not in json.dumps(result)
    runner_text = (tmp_path / "sbin" / "fracto-backup-job").read_text()
    compile(runner_text, "fracto-backup-job", "exec")
    assert "def redact_url(" in runner_text and "accept-new" not in runner_text


def test_jobs_kept_for_a_client_gone_from_the_state_are_not_a_change(monkeypatch, capsys, tmp_path, free_lock):
    """Issue 17: with prune off, the jobs of a removed client are kept; the rerun must still report changed=false."""
    def run_command(self, args, **kwargs):  # timers enabled and active, systemctl otherwise fine
        return 0, "", ""

    monkeypatch.setattr(basic.AnsibleModule, "run_command", run_command)
    monkeypatch.setattr(basic.AnsibleModule, "get_bin_path", lambda self, name, *a, **k: None)
    (tmp_path / "units_dir").mkdir()
    first = run(capsys, backup_jobs, jobs_args(tmp_path))
    assert first["changed"] and not first.get("failed"), first
    args = jobs_args(tmp_path, clients=["c1"])
    args["jobs"], args["passwords"] = args["jobs"][:1], {"c1/web": args["passwords"]["c1/web"]}
    for check in (True, False, False):
        result = run(capsys, backup_jobs, dict(args, _ansible_check_mode=check))
        assert not result.get("failed"), result
        assert [(c["action"], c["id"]) for c in result["changes"]] == [("keep", "c2/web")]  # the plan line
        assert result["changed"] is False, result
        assert result["kept"] == ["c2/web"]
    assert (tmp_path / "config_dir" / "demo" / "c2.web.json").exists()


# --- backup_restore -------------------------------------------------------------------------------------------

SNAPSHOT_ID = "ab" * 32


class FakeRestic:
    """restic for backup_restore: one snapshot holding the client's site (a setuid file, a device-free tree, a link
    out of the tree) and a dump; "restore" writes them under its --target."""

    calls = []

    def __init__(self, job, run, binary=None):
        self.job = job

    def __call__(self, *args, check=True, retries=0):
        FakeRestic.calls.append(list(args))
        home = self.job["home"]
        if args[0] == "snapshots":
            return SimpleNamespace(returncode=0, stdout=json.dumps([{"id": SNAPSHOT_ID, "short_id": SNAPSHOT_ID[:8],
                                                                     "time": "2026-12-01T00:00:00Z"}]), stderr="")
        if args[0] == "ls":
            nodes = [home, home + "/site", home + "/site/index.php", home + "/site/suid", home + "/site/out",
                     self.job["spool"] + "/c1_db.sql"]
            return SimpleNamespace(returncode=0, stderr="", stdout="\n".join(
                json.dumps({"struct_type": "node", "path": n}) for n in nodes))
        if args[0] == "restore":
            target = args[1][len("--target="):]
            include = args[2][len("--include="):]
            assert args[3] == "--" and args[4] == SNAPSHOT_ID
            site = target + home + "/site"
            os.makedirs(site)
            with open(site + "/index.php", "w") as handle:
                handle.write("<?php // restored\n")
            with open(site + "/suid", "w") as handle:
                handle.write("x")
            os.chmod(site + "/suid", 0o4755)
            os.symlink("/etc/shadow", site + "/out")
            os.makedirs(target + self.job["spool"])
            with open(target + self.job["spool"] + "/c1_db.sql", "w") as handle:
                handle.write("CREATE TABLE t (i int);\n")
            FakeRestic.staged = (target, include)
            return SimpleNamespace(returncode=0, stdout="", stderr="")
        raise AssertionError(args)


def restore_setup(monkeypatch, root, **extra):
    config = root / "etc"
    (config / "demo").mkdir(parents=True)
    job = {"client": "c1", "home": str(root / "www" / "c1"), "spool": str(root / "spool" / "demo" / "c1.web"),
           "databases": ["c1_db"], "mailboxes": [], "repository": "sftp:restic@backup.test:/srv/r"}
    (config / "demo" / "c1.web.json").write_text(json.dumps(job))
    monkeypatch.setattr(backup_restore, "Restic", FakeRestic)
    monkeypatch.setattr(basic.AnsibleModule, "get_bin_path", lambda self, name, *a, **k: "/usr/bin/" + name)
    FakeRestic.calls = []
    args = {"reseller": "demo", "client": "c1", "what": "files", "config_dir": str(config), "staging_dir": str(root / "staging"),
            "web_root": str(root / "www"), "vmail_home": str(root / "vmail")}
    args.update(extra)
    return args


@pytest.mark.parametrize("change, rule", [
    ({"snapshot": "--target=/"}, "snapshot: latest or a snapshot id"),
    ({"client": "../../etc"}, "client: refused"),
    ({"reseller": "demo\n"}, "reseller: refused"),
    ({"staging_dir": "/srv/www/c1/tmp", "web_root": "/srv/www"}, "staging_dir /srv/www/c1/tmp must be outside"),
    ({"dest": "/srv/www/c2"}, "dest: a side path outside the tenants' trees"),
])
def test_backup_restore_refuses_hostile_parameters_before_anything(held, capsys, tmp_path, monkeypatch, change, rule):
    args = restore_setup(monkeypatch, tmp_path, **change)
    if "web_root" in change:
        args["web_root"] = change["web_root"]
    if change.get("dest"):
        args["web_root"] = "/srv/www"
    result = run(capsys, backup_restore, args)
    assert result.get("failed") and rule in result["msg"] and "nothing was changed" in result["msg"], result
    assert held == [] and FakeRestic.calls == []


def test_backup_restore_writes_only_under_the_host_lock(held, capsys, tmp_path, monkeypatch):
    result = run(capsys, backup_restore, restore_setup(monkeypatch, tmp_path))
    assert result.get("failed") and "another run holds the host lock" in result["msg"], result
    assert held == [("fracto.hosting.backup_restore", "demo")]
    assert [c[0] for c in FakeRestic.calls] == ["snapshots", "ls"]  # reads only; nothing restored


def test_files_are_restored_through_staging_and_copied_in_as_the_client(capsys, tmp_path, monkeypatch, free_lock):
    seen = []

    class Recorder:
        def __init__(self, argv, stdin=None, **kwargs):
            seen.append(("popen", list(argv)))
            self.stdin = open(os.devnull, "wb")

        def wait(self):
            return 0

    def fake_run(argv, **kwargs):
        seen.append(("run", list(argv)))
        return subprocess.CompletedProcess(argv, 0, b"", b"")

    monkeypatch.setattr(backup_restore.subprocess, "Popen", Recorder)
    monkeypatch.setattr(backup_restore.subprocess, "run", fake_run)
    monkeypatch.setattr(backup_restore, "user_ids", lambda name, what: (1234, 1234) if name == "c1" else pytest.fail(name))
    result = run(capsys, backup_restore, restore_setup(monkeypatch, tmp_path, path="site"))
    assert not result.get("failed"), result
    target, include = FakeRestic.staged
    assert target.startswith(str(tmp_path / "staging") + "/restore-") and include == str(tmp_path / "www" / "c1" / "site")
    assert stat.S_IMODE((tmp_path / "staging").stat().st_mode) == 0o700
    assert not os.path.exists(target)  # the staging copy is removed
    extract = [argv for kind, argv in seen if kind == "popen"][0]
    assert extract[:6] == ["setpriv", "--reuid=1234", "--regid=1234", "--clear-groups", "--no-new-privs", "--"]
    assert "--directory=%s" % (tmp_path / "www" / "c1") in extract and "--no-same-owner" in extract
    assert not (tmp_path / "www").exists()  # root wrote nothing in the tenant's tree itself
    assert free_lock == [("fracto.hosting.backup_restore", "demo")]


def test_a_dump_is_imported_as_the_clients_database_user_not_root(capsys, tmp_path, monkeypatch, free_lock):
    seen = []

    def fake_run(argv, stdin=None, env=None, **kwargs):
        seen.append((list(argv), env, stdin.read() if stdin else None))
        return subprocess.CompletedProcess(argv, 0, b"", b"")

    monkeypatch.setattr(backup_restore.subprocess, "run", fake_run)
    monkeypatch.setattr(backup_restore, "user_ids", lambda name, what: (1234, 1234))
    args = restore_setup(monkeypatch, tmp_path, what="database", name="c1_db")
    result = run(capsys, backup_restore, args)
    assert result.get("failed") and "db_user and db_password" in result["msg"], result  # never falls back to root
    result = run(capsys, backup_restore, dict(args, db_user="c1_web", db_password="db-%s" % SECRET))
    assert not result.get("failed"), result
    argv, env, data = seen[-1]
    assert argv[:2] == ["setpriv", "--reuid=1234"] and argv[6:] == ["mariadb", "--user=c1_web", "--database=c1_db", "--batch"]
    assert env["MYSQL_PWD"] == "db-%s" % SECRET and data == b"CREATE TABLE t (i int);\n"
    assert SECRET not in json.dumps(result)
    result = run(capsys, backup_restore, dict(args, db_user="root", db_password="x"))
    assert result.get("failed") and "never root" in result["msg"]


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"), reason="drops privileges for real: root only")
def test_for_real_the_client_gets_its_files_without_setuid_bits_or_links_out(capsys, monkeypatch, free_lock):
    root = tempfile.mkdtemp(prefix="fracto-restore-test-", dir="/tmp")
    try:
        os.chmod(root, 0o755)
        nobody = pwd.getpwnam("nobody")
        home = os.path.join(root, "www", "c1")
        os.makedirs(home)
        os.chown(home, nobody.pw_uid, nobody.pw_gid)
        os.chmod(os.path.join(root, "www"), 0o755)
        import pathlib

        args = restore_setup(monkeypatch, pathlib.Path(root), owner="nobody")
        result = run(capsys, backup_restore, args)
        assert not result.get("failed"), result
        site = os.path.join(home, "site")
        assert open(os.path.join(site, "index.php")).read() == "<?php // restored\n"
        for name in ("index.php", "suid"):
            info = os.lstat(os.path.join(site, name))
            assert info.st_uid == nobody.pw_uid and not info.st_mode & 0o7000
        assert not os.path.lexists(os.path.join(site, "out"))
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.mark.parametrize("module", [backup_jobs, backup_restore], ids=["backup_jobs", "backup_restore"])
def test_the_documentation_parses_and_documents_every_option(module, monkeypatch):
    import yaml

    spec = {}

    def capture(self, argument_spec=None, **kwargs):
        spec.update(argument_spec)
        raise SystemExit(0)

    monkeypatch.setattr(basic.AnsibleModule, "__init__", capture)
    with pytest.raises(SystemExit):
        module.main()
    documented = yaml.safe_load(module.DOCUMENTATION)["options"]
    assert set(documented) == set(spec)
    for name, opts in spec.items():
        assert documented[name].get("type", "str") == opts.get("type", "str"), name
        assert documented[name].get("default") == opts.get("default"), name
    yaml.safe_load(module.EXAMPLES)
    yaml.safe_load(module.RETURN)
