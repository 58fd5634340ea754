# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Backup jobs (module_utils/backup/): the runner's logic, the files and plan of backup_jobs, restore planning."""

from __future__ import annotations

import json
import subprocess

import pytest
from ansible_collections.fracto.hosting.plugins.module_utils.backup import jobs, restore, runner

SECRET = "restic-UNIT-SECRET-1"
KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nUNIT-KEY-MATERIAL\n-----END OPENSSH PRIVATE KEY-----"
SETTINGS = dict(jobs.DEFAULTS)
JOBS = [
    {"client": "c1", "side": "web", "what": ["files", "databases"], "repository": "sftp://restic@backup.test:2222//srv/restic/c1",
     "keep": {"daily": 7, "weekly": 4}, "managed_by": "client"},
    {"client": "c2", "side": "web", "what": ["files", "databases"], "repository": "sftp:restic@backup.test:/srv/restic/demo/c2",
     "keep": {"daily": 7}, "managed_by": "reseller"},
]
PASSWORDS = {"c1/web": SECRET, "c2/web": SECRET + "2"}
DATABASES = [{"name": "c1_db", "client": "c1"}, {"name": "c2_shop", "client": "c2"}]


def wanted(jobs_=None, settings=None, passwords=None):
    jobs_, settings, passwords = jobs_ or JOBS, settings or SETTINGS, passwords or PASSWORDS
    return jobs.wanted_files(jobs_, passwords, KEY, "demo", "cloud01", ["cloud01", "cloud01.fracto.test"], settings,
                             DATABASES, [], "#!/usr/bin/python3\nrunner\n")


def on_host(files):
    return {path: {"content": f["content"], "mode": f["mode"]} for path, f in files.items()}


# --- runner -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("repository, expected", [
    ("sftp:restic@backup01.fracto.test:/srv/restic/c1", ("restic", "backup01.fracto.test", None, "/srv/restic/c1")),
    ("sftp://restic@backup01.fracto.test:2222//srv/restic/c1", ("restic", "backup01.fracto.test", 2222, "/srv/restic/c1")),
    ("sftp:backup01:repo", (None, "backup01", None, "repo")),
    ("s3:https://s3.example.test/bucket", None),
    ("/srv/restic/local", None),
])
def test_parse_sftp(repository, expected):
    assert runner.parse_sftp(repository) == expected


def test_sftp_command_uses_the_key_its_own_known_hosts_and_never_prompts():
    command = runner.sftp_command("sftp://restic@backup.test:2222//srv/r", "/k", "/kh")
    assert command.endswith("-p 2222 restic@backup.test -s sftp")
    for option in ("-i /k", "UserKnownHostsFile=/kh", "StrictHostKeyChecking=accept-new", "BatchMode=yes", "IdentitiesOnly=yes"):
        assert option in command
    assert runner.sftp_command("rest:https://backup.test/", "/k", "/kh") is None


@pytest.mark.parametrize("repository, outside", [
    ("sftp:restic@backup01.fracto.test:/srv/restic/c1", True),
    ("sftp:restic@cloud01.fracto.test:/srv/restic/c1", False),
    ("sftp:restic@localhost:/srv/restic/c1", False),
    ("rest:https://user:pw@backup.test:8000/c1", True),
    ("s3:s3.amazonaws.com/bucket/c1", True),
    ("b2:bucket:c1", True),
    ("/srv/restic/c1", False),
])
def test_outside_host(repository, outside):
    assert runner.outside_host(repository, ["cloud01", "cloud01.fracto.test"]) is outside


def test_public_repository_strips_a_password_only():
    assert runner.public_repository("rest:https://user:s3cret@backup.test/c1") == "rest:https://user:***@backup.test/c1"
    assert runner.public_repository("sftp://restic@backup.test:2222//srv/c1") == "sftp://restic@backup.test:2222//srv/c1"
    assert runner.public_repository("sftp:restic@backup.test:/srv/c1") == "sftp:restic@backup.test:/srv/c1"


def test_keep_args_leave_out_zero_and_missing_values():
    assert runner.keep_args({"daily": 7, "weekly": 0, "monthly": 6}) == ["--keep-daily", "7", "--keep-monthly", "6"]
    assert runner.keep_args({}) == []


@pytest.mark.parametrize("stderr, reason", [
    ("Fatal: wrong password or no key found\n", "wrong repository password"),
    ("subprocess ssh: ssh: connect to host backup01 port 2222: Connection refused\n"
     "Fatal: unable to open repository at sftp:x: unable to start the sftp session, error: EOF\n", "target unreachable"),
    ("Fatal: unable to open config file: Lstat /srv/x/config: no such file or directory\n"
     "Is there a repository at the following location?\nsftp:x\n", "no repository at the target"),
])
def test_explain_names_the_usual_causes(stderr, reason):
    assert runner.explain(stderr).startswith(reason)


class FakeRun:
    """subprocess.run stand-in: answers restic commands from a script of (match, rc, stdout, stderr)."""

    def __init__(self, script):
        self.script, self.calls = list(script), []

    def __call__(self, command, **kwargs):
        self.calls.append((command, kwargs.get("env")))
        for i, (match, rc, out, err) in enumerate(self.script):
            if match in command:
                self.script.pop(i)
                return subprocess.CompletedProcess(command, rc, out, err)
        return subprocess.CompletedProcess(command, 0, "", "")


def job_description(tmp_path, **extra):
    job = dict(reseller="demo", client="c1", side="web", what=["files", "databases"], managed_by="client",
               repository="sftp:restic@backup.test:/srv/restic/c1", outside_host=True, keep={"daily": 7}, host="cloud01",
               home=str(tmp_path / "home"), databases=[], mailboxes=[], spool=str(tmp_path / "spool"),
               status_dir=str(tmp_path / "status"), cache_dir=str(tmp_path / "cache"), password_file=str(tmp_path / "pw"),
               ssh_key="/k", known_hosts="/kh")
    job.update(extra)
    return job


def test_restic_retries_while_the_repository_is_locked_and_passes_the_password_by_file(tmp_path):
    run = FakeRun([("snapshots", 1, "", "Fatal: unable to create lock in backend: repository is already locked by PID 1\n")])
    slept = []
    restic = runner.Restic(job_description(tmp_path), run=run, sleep=slept.append)
    assert restic("snapshots").returncode == 0
    assert len(run.calls) == 2 and slept == [runner.LOCK_WAIT]
    env = run.calls[0][1]
    assert env["RESTIC_PASSWORD_FILE"] == str(tmp_path / "pw") and "RESTIC_PASSWORD" not in env
    assert any(a.startswith("sftp.command=ssh -i /k") for a in run.calls[0][0])


def test_a_missing_repository_is_initialised_and_an_unreachable_one_is_an_error(tmp_path):
    missing = "Fatal: unable to open config file\nIs there a repository at the following location?\n"
    run = FakeRun([("cat", 1, "", missing)])
    assert runner.Restic(job_description(tmp_path), run=run).ensure_repository() is True
    assert ["init"] == [c[0][-1] for c in run.calls if c[0][-1] == "init"]
    run = FakeRun([("cat", 1, "", "Fatal: unable to start the sftp session, error: EOF\n")])
    with pytest.raises(runner.JobError, match="target unreachable"):
        runner.Restic(job_description(tmp_path), run=run).ensure_repository()
    assert not [c for c in run.calls if "init" in c[0]]


def test_run_job_dumps_backs_up_with_tags_and_forgets_with_the_keep_policy(tmp_path):
    (tmp_path / "home").mkdir()
    summary = json.dumps({"message_type": "summary", "snapshot_id": "abcd1234", "total_bytes_processed": 4096})
    run = FakeRun([("backup", 0, '{"message_type":"status"}\n' + summary + "\n", "")])
    job = job_description(tmp_path, databases=["c1_db"])
    dumps = []

    def dump_run(command, stdout=None, **kwargs):
        dumps.append(command)
        stdout.write("-- dump\n")
        return subprocess.CompletedProcess(command, 0, None, "")

    restic = runner.Restic(job, run=run)
    assert runner.run_job(job, dump_run, restic=restic) == ("abcd1234", 4096)
    assert dumps == [["mariadb-dump", "--single-transaction", "--quick", "--routines", "--events", "--triggers",
                      "--skip-dump-date", "c1_db"]]
    assert (tmp_path / "spool" / "c1_db.sql").read_text() == "-- dump\n"
    assert oct((tmp_path / "spool").stat().st_mode & 0o777) == "0o700"
    backup = next(c[0] for c in run.calls if "backup" in c[0])
    assert backup[-2:] == [str(tmp_path / "home"), str(tmp_path / "spool")]
    for tag in ("reseller=demo", "client=c1", "side=web"):
        assert tag in backup
    forget = next(c[0] for c in run.calls if "forget" in c[0])
    assert "--prune" in forget and forget[-2:] == ["--keep-daily", "7"] and "reseller=demo,client=c1,side=web" in forget


def test_a_failed_run_is_recorded_keeps_the_last_success_and_exits_non_zero(tmp_path):
    job = job_description(tmp_path)
    config = tmp_path / "job.json"
    config.write_text(json.dumps(job))
    ok = runner.main([str(config)], run=None, run_job=lambda j, run: ("abcd1234", 10))
    assert ok == 0
    status = tmp_path / "status" / "demo" / "c1.web.json"
    first = json.loads(status.read_text())
    assert first["last_status"] == "ok" and first["snapshot_id"] == "abcd1234" and first["last_error"] is None
    assert oct(status.stat().st_mode & 0o777) == "0o644"

    def unreachable(j, run):
        raise runner.JobError("restic: target unreachable (ssh)")

    assert runner.main([str(config)], run=None, run_job=unreachable) == 1
    rec = json.loads(status.read_text())
    assert set(rec) == {"reseller", "client", "side", "what", "managed_by", "repository", "outside_host", "encrypted", "last_attempt",
                        "last_status", "last_success", "last_error", "snapshot_id", "size_bytes"}
    assert rec["last_status"] == "failed" and rec["last_error"] == "restic: target unreachable (ssh)"
    assert rec["last_success"] == first["last_success"] and rec["snapshot_id"] == "abcd1234" and rec["size_bytes"] == 10
    assert rec["encrypted"] is True and SECRET not in status.read_text()


def test_the_installed_runner_is_the_module_utils_source_with_its_entry_point(tmp_path):
    import inspect
    import sys

    script = tmp_path / "fracto-backup-job"
    script.write_text("#!/usr/bin/python3\n" + inspect.getsource(runner) + jobs.ENTRY)
    usage = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, check=False)
    assert usage.returncode == 2 and "usage: fracto-backup-job" in usage.stderr


def test_backup_paths_of_the_mail_side_are_the_existing_maildirs(tmp_path):
    job = job_description(tmp_path, side="mail", what=["mailboxes"],
                          mailboxes=[{"address": "a@c1.test", "home": "/var/vmail/c1.test/a"}, {"address": "b@c1.test", "home": "/nope"}])
    assert runner.backup_paths(job, "/spool", exists=lambda p: p != "/nope") == ["/var/vmail/c1.test/a", "/spool"]


# --- backup_jobs: files and plan --------------------------------------------------------------------------

def test_wanted_files_per_job_and_secrets_only_in_secret_files():
    files = wanted()
    paths = set(files)
    for client in ("c1", "c2"):
        assert "/etc/fracto/backup/demo/%s.web.json" % client in paths
        assert files["/etc/fracto/backup/demo/%s.web.password" % client]["mode"] == 0o600
        timer = files["/etc/systemd/system/fracto-backup-demo-%s-web.timer" % client]["content"]
        assert "RandomizedDelaySec=1h" in timer and "Persistent=true" in timer and "OnCalendar=daily" in timer
    assert files["/etc/fracto/backup/ssh/id_ed25519"]["secret"] and files["/etc/fracto/backup/ssh/id_ed25519"]["mode"] == 0o600
    for path, f in files.items():
        if not f["secret"]:
            assert SECRET not in f["content"] and "UNIT-KEY-MATERIAL" not in f["content"], path
    desc = json.loads(files["/etc/fracto/backup/demo/c1.web.json"]["content"])
    assert desc["databases"] == ["c1_db"] and desc["outside_host"] is True and desc["spool"] == "/var/lib/fracto/backup/spool/demo/c1.web"


def test_first_run_creates_every_job_then_nothing_changes():
    files = wanted()
    changes, writes, removals = jobs.plan_files({}, files, "demo", SETTINGS, {"c1", "c2"}, False)
    assert [(c["action"], c["id"]) for c in changes] == [("create", "c1/web"), ("create", "c2/web"), ("create", "runner"), ("create", "ssh key")]
    assert set(writes) == set(files) and removals == []
    assert all(c["kind"] == "backup" for c in changes)
    assert jobs.plan_files(on_host(files), files, "demo", SETTINGS, {"c1", "c2"}, False) == ([], [], [])


def test_a_changed_password_keep_policy_or_schedule_is_described_without_secrets():
    before = on_host(wanted())
    changed_jobs = [dict(JOBS[0], keep={"daily": 14})] + JOBS[1:]
    after = wanted(jobs_=changed_jobs, settings=dict(SETTINGS, randomized_delay="2h"), passwords=dict(PASSWORDS, **{"c2/web": "another-secret"}))
    changes, writes, _removals = jobs.plan_files(before, after, "demo", SETTINGS, {"c1", "c2"}, False)
    by_id = {c["id"]: c for c in changes}
    assert by_id["c1/web"]["detail"] == ["keep: --keep-daily 7 --keep-weekly 4 -> --keep-daily 14", "timer rewritten"]
    assert by_id["c2/web"]["detail"] == ["password changed", "timer rewritten"]
    assert "another-secret" not in json.dumps(changes)
    diff = jobs.diff_text(after, writes) + jobs.diff_text(before, writes)
    assert "another-secret" not in diff and SECRET not in diff and jobs.SECRET_MARK in diff and "RandomizedDelaySec=2h" in diff


def test_jobs_of_a_client_still_present_are_removed_those_of_a_departed_client_kept_unless_prune():
    current = on_host(wanted())
    only_c1 = wanted(jobs_=JOBS[:1])
    changes, _writes, removals = jobs.plan_files(current, only_c1, "demo", SETTINGS, {"c1", "c2"}, False)
    assert [(c["action"], c["id"]) for c in changes] == [("remove", "c2/web")]
    assert sorted(removals) == sorted(p for p in current if "c2" in p)
    changes, _writes, removals = jobs.plan_files(current, only_c1, "demo", SETTINGS, {"c1"}, False)
    assert [(c["action"], c["id"]) for c in changes] == [("keep", "c2/web")] and removals == []
    _changes, _writes, removals = jobs.plan_files(current, only_c1, "demo", SETTINGS, {"c1"}, True)
    assert len(removals) == 4


def test_the_files_of_another_reseller_are_not_ours():
    assert jobs.job_of_path("/etc/fracto/backup/other/c1.web.json", "demo", SETTINGS) is None
    assert jobs.job_of_path("/etc/systemd/system/fracto-backup-other-c1-web.timer", "demo", SETTINGS) is None
    assert jobs.job_of_path("/etc/systemd/system/fracto-backup-demo-my-client-mail.timer", "demo", SETTINGS) == ("my-client", "mail", "timer")


def test_validate_jobs_names_the_job_and_the_rule():
    problems = jobs.validate_jobs([dict(JOBS[0], password="x"), dict(JOBS[1], side="db")], {"c1/web": SECRET}, "")
    text = "; ".join(problems)
    assert "backup job c1/web: pass its password in passwords" in text
    assert "backup job c1/web: an sftp repository needs the platform's backup SSH key" in text
    assert "backup job c2/db: side must be web or mail" in text and "backup job c2/db: no password in passwords" in text


# --- restore ----------------------------------------------------------------------------------------------

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
