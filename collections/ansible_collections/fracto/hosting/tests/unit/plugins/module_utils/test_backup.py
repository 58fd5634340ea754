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


KNOWN_HOSTS = ("backup.test ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIUNITKEY22\n"
               "[backup.test]:2222 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIUNITKEY2222\n")


def wanted(jobs_=None, settings=None, passwords=None):
    jobs_, settings, passwords = jobs_ or JOBS, settings or SETTINGS, passwords or PASSWORDS
    return jobs.wanted_files(jobs_, passwords, KEY, "demo", "cloud01", ["cloud01", "cloud01.fracto.test"], settings,
                             DATABASES, [], "#!/usr/bin/python3\nrunner\n", known_hosts=KNOWN_HOSTS)


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


def test_sftp_command_uses_the_key_its_pinned_known_hosts_and_never_prompts():
    command = runner.sftp_command("sftp://restic@backup.test:2222//srv/r", "/k", "/kh")
    assert command.endswith("-p 2222 -l restic -s -- backup.test sftp")
    for option in ("-i /k", "UserKnownHostsFile=/kh", "StrictHostKeyChecking=yes", "GlobalKnownHostsFile=/dev/null", "BatchMode=yes",
                   "IdentitiesOnly=yes", "-F none"):
        assert option in command
    assert "accept-new" not in command and "UserKnownHostsFile=/dev/null" not in command
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
    assert runner.public_repository("rest:https://user:s3cret@backup.test/c1") == "rest:https://user:****@backup.test/c1"
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
    assert any(a.startswith("sftp.command=ssh -F none -i /k") for a in run.calls[0][0])


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
                      "--skip-dump-date", "--", "c1_db"]]
    assert (tmp_path / "spool" / "c1_db.sql").read_text() == "-- dump\n"
    assert oct((tmp_path / "spool").stat().st_mode & 0o777) == "0o700"
    backup = next(c[0] for c in run.calls if "backup" in c[0])
    assert backup[-3:] == ["--", str(tmp_path / "home"), str(tmp_path / "spool")]
    for tag in ("reseller=demo", "client=c1", "side=web"):
        assert "--tag=" + tag in backup
    forget = next(c[0] for c in run.calls if "forget" in c[0])
    assert "--prune" in forget and forget[-2:] == ["--keep-daily", "7"] and "--tag=reseller=demo,client=c1,side=web" in forget


def test_a_failed_run_is_recorded_keeps_the_last_success_and_exits_non_zero(tmp_path):
    job = job_description(tmp_path)
    config = tmp_path / "job.json"
    config.write_text(json.dumps(job))
    ok = runner.main([str(config)], run=None, run_job=lambda j, run: ("abcd1234", 10))
    assert ok == 0
    status = tmp_path / "status" / "demo" / "c1.web.json"
    first = json.loads(status.read_text())
    assert first["last_status"] == "ok" and first["snapshot_id"] == "abcd1234" and first["last_error"] is None
    assert oct(status.stat().st_mode & 0o777) == "0o600"  # root only: tenants never read job records
    assert oct(status.parent.stat().st_mode & 0o777) == "0o700"

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
    assert [(c["action"], c["id"]) for c in changes] == [("create", "c1/web"), ("create", "c2/web"), ("create", "runner"), ("create", "ssh key"),
                                                         ("create", "ssh known_hosts")]
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


# --- issue 12: hostile repositories, paths, pinned host keys, private records, redaction ----------------------

HOSTILE_REPOSITORIES = [
    "sftp:-oProxyCommand=touch /tmp/pwned@backup.test:/srv/r",          # user as an ssh option
    "sftp:-oProxyCommand=id@backup.test:/srv/r",
    "sftp:restic@-oProxyCommand=id:/srv/r",                              # host as an ssh option
    "sftp://-oProxyCommand=id@backup.test/srv/r",
    "sftp://restic@-oProxyCommand=id:22/srv/r",
    "sftp:-oProxyCommand=id:/srv/r",
    "sftp:restic@backup.test:/srv/r\n",                                  # trailing newline (re.match + $ passes it)
    "sftp:restic@backup.test:/srv/r x",
    "sftp:Restic@backup.test:/srv/r",                                    # user grammar [a-z_][a-z0-9_-]{0,31}
    "sftp:restic@backup_test:/srv/r",
    "sftp:restic@999.1.1.1:/srv/r",                                      # not an IPv4 address
    "sftp://restic@backup.test:0/srv/r",
    "sftp://restic@backup.test:70000/srv/r",
    "sftp:restic@backup.test;id:/srv/r",
    "sftp:restic@backup.test:",
    "rclone::sftp,ssh='touch /tmp/pwned':/srv/r",                        # rclone connection strings carry commands
    "/srv/restic/c1",                                                    # local: root writes where the state says
    "local:/srv/www/other",
    "rest:https://u:p@-oProxyCommand/x",
    "rest:https://u:p w@backup.test/x",
    "s3:https://backup.test",
    "rest:http://u:pw@rest.backup.test/x",                               # the REST password in clear on the wire
    "sftp:restic@backup.test:/srv/../etc",
    "sftp:restic@backup.test:-oX",
    "azure:container:/c1",                                               # restic backends the platform does not run
    "-r",
    "",
]


@pytest.mark.parametrize("repository", HOSTILE_REPOSITORIES)
def test_hostile_repositories_are_refused_and_never_reach_ssh(repository):
    assert runner.repository_problem(repository)
    problems = jobs.validate_jobs([dict(JOBS[0], repository=repository)], PASSWORDS, KEY, KNOWN_HOSTS)
    assert any("backup job c1/web: repository" in p or "missing repository" in p for p in problems), problems
    if repository.startswith("sftp:"):
        with pytest.raises(ValueError):
            runner.sftp_command(repository, "/k", "/kh")


@pytest.mark.parametrize("repository", [
    "sftp:restic@backup01.fracto.test:/srv/restic/demo/c1",
    "sftp://restic@backup01.fracto.test:2222//srv/restic/cliente1",
    "sftp:backup01:repo",
    "sftp:restic@198.51.100.7:/srv/r",
    "rest:https://user:s3cr3t@rest.backup.test:8000/c1/",
    "rest:https://rest.backup.test:8000/",
    "s3:s3.amazonaws.com/bucket/c1",
    "s3:https://s3.example.test/bucket",
    "b2:bucket:c1",
])
def test_the_platform_repositories_are_accepted(repository):
    assert runner.repository_problem(repository) is None


def test_a_refusal_never_echoes_the_repository():
    problem = runner.repository_problem("rest:https://u:UNIT-SECRET @backup.test/x")
    assert problem and "UNIT-SECRET" not in problem


def test_the_ssh_argv_ends_its_options_before_the_destination():
    import shlex

    argv = runner.sftp_argv("sftp://restic@backup.test:2222//srv/r", "/etc/fracto/backup/ssh/id_ed25519",
                            "/etc/fracto/backup/ssh/known_hosts")
    assert argv[-4:] == ["-s", "--", "backup.test", "sftp"]
    assert argv[argv.index("-l") + 1] == "restic" and argv[argv.index("-p") + 1] == "2222"
    # restic splits sftp.command again: the split gives back the same argv (no space or quote in any part)
    assert shlex.split(runner.sftp_command("sftp://restic@backup.test:2222//srv/r", "/etc/fracto/backup/ssh/id_ed25519",
                                           "/etc/fracto/backup/ssh/known_hosts")) == argv
    assert "StrictHostKeyChecking=yes" in argv and "GlobalKnownHostsFile=/dev/null" in argv
    with pytest.raises(ValueError):
        runner.sftp_argv("sftp:restic@backup.test:/r", "/k y", "/kh")  # a space would split into two arguments
    with pytest.raises(ValueError):
        runner.sftp_argv("sftp:restic@backup.test:/r", "-oProxyCommand=id", "/kh")


@pytest.mark.parametrize("address", ["../../etc@c1.test", "a/b@c1.test", "..@c1.test", ".@c1.test", "info@../..",
                                     "info@c1.test/../..", "@c1.test", "info@c1.test\n", "in\nfo@c1.test", "info",
                                     "-x@c1.test/.."])
def test_a_mailbox_path_never_leaves_the_vmail_root(address):
    with pytest.raises(ValueError):
        jobs.mailbox_home("/var/vmail", address)
    problems = jobs.validate_inputs(JOBS[:1], PASSWORDS, KEY, KNOWN_HOSTS, "demo", SETTINGS, [],
                                    [{"address": address, "client": "c1"}])
    assert any(p.startswith("mailbox: ") for p in problems), problems


def test_a_valid_mailbox_home_is_under_its_domain():
    assert jobs.mailbox_home("/var/vmail", "info.ventas+x@c1.test") == "/var/vmail/c1.test/info.ventas+x"


@pytest.mark.parametrize("client", ["../c2", "c1/..", "-c1", "c1.evil", "", "C1", "c1\n"])
def test_a_client_id_that_would_leave_the_web_root_or_name_other_files_is_refused(client):
    problems = jobs.validate_inputs([dict(JOBS[0], client=client)], {"%s/web" % client: SECRET}, KEY, KNOWN_HOSTS,
                                    "demo", SETTINGS, [], [])
    assert problems
    with pytest.raises(ValueError):
        jobs.client_home("/srv/www", client)


@pytest.mark.parametrize("reseller", ["../etc", "demo/x", "-demo", "demo\n"])
def test_a_hostile_reseller_is_refused(reseller):
    assert any(p.startswith("reseller: refused") for p in
               jobs.validate_inputs(JOBS, PASSWORDS, KEY, KNOWN_HOSTS, reseller, SETTINGS, [], []))


@pytest.mark.parametrize("database", ["mysql; x", "-e", "a" * 65, "c1_db\n"])
def test_a_hostile_database_name_is_refused_by_the_module_and_the_runner(database, tmp_path):
    assert any(p.startswith("database:") for p in
               jobs.validate_inputs(JOBS, PASSWORDS, KEY, KNOWN_HOSTS, "demo", SETTINGS, [{"name": database, "client": "c1"}], []))
    with pytest.raises(runner.JobError):
        runner.dump_databases(job_description(tmp_path, databases=[database]), str(tmp_path), run=None)


def test_sftp_targets_need_their_host_key_pinned():
    problems = jobs.validate_jobs(JOBS, PASSWORDS, KEY, "")
    assert any("[backup.test]:2222 is not pinned" in p for p in problems), problems
    assert any("host key of backup.test is not pinned" in p for p in problems), problems
    only_22 = "backup.test ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIUNITKEY22\n"
    assert not jobs.known_hosts_covers(only_22, "backup.test", 2222)
    problems = jobs.validate_jobs(JOBS, PASSWORDS, KEY, only_22)
    assert [p for p in problems if "not pinned" in p] == ["backup job c1/web: the host key of [backup.test]:2222 is not "
                                                          "pinned in fracto_ssh_known_hosts (host keys are never accepted on first use)"]
    assert jobs.validate_jobs(JOBS, PASSWORDS, KEY, KNOWN_HOSTS) == []


def test_known_hosts_patterns_hashed_names_and_revoked_keys():
    import base64
    import hashlib
    import hmac

    salt = b"0123456789abcdef0123"
    digest = hmac.new(salt, b"[backup.test]:2222", hashlib.sha1).digest()
    key = "AAAAC3NzaC1lZDI1NTE5AAAAIUNITKEY"
    hashed = "|1|%s|%s ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIUNITKEY" % (base64.b64encode(salt).decode(), base64.b64encode(digest).decode())
    assert jobs.known_hosts_covers(hashed, "backup.test", 2222)
    assert not jobs.known_hosts_covers(hashed, "backup.test", 22)
    assert jobs.known_hosts_covers("*.fracto.test,!evil.fracto.test ssh-ed25519 " + key, "backup01.fracto.test")
    assert not jobs.known_hosts_covers("*.fracto.test,!evil.fracto.test ssh-ed25519 " + key, "evil.fracto.test")
    assert not jobs.known_hosts_covers("[backup.tes?]:2222 ssh-ed25519 " + key, "backup.test", 22)
    assert jobs.known_hosts_covers("[backup.tes?]:2222 ssh-ed25519 " + key, "backup.test", 2222)
    assert not jobs.known_hosts_covers("@revoked backup.test ssh-ed25519 " + key, "backup.test")
    assert jobs.known_hosts_problems("backup.test ssh-ed25519 %s\nnot a line\n# comment\n" % key) == [
        "fracto_ssh_known_hosts line 2 is not a known_hosts line (host patterns, key type, key)"]


def test_the_pinned_known_hosts_file_is_written_with_the_key():
    files = wanted()
    known = files["/etc/fracto/backup/ssh/known_hosts"]
    assert known["content"] == KNOWN_HOSTS and known["mode"] == 0o600
    desc = json.loads(files["/etc/fracto/backup/demo/c1.web.json"]["content"])
    assert desc["known_hosts"] == "/etc/fracto/backup/ssh/known_hosts"


def test_no_product_code_accepts_unknown_host_keys():
    """SSH peers are pinned: no StrictHostKeyChecking=accept-new/no, no UserKnownHostsFile=/dev/null, no
    host_key_checking=false anywhere in product code (roles, playbooks, plugins, ansible.cfg); the backup code runs
    no shell either."""
    import pathlib
    import re

    plugins = pathlib.Path(jobs.__file__).resolve().parents[2]
    project = plugins.parents[4]
    sources = [p for p in list(plugins.rglob("*.py")) + list((project / "roles").rglob("*")) + list((project / "playbooks").rglob("*"))
               if p.is_file()]
    sources.append(project / "ansible.cfg")
    bad = re.compile(r"StrictHostKeyChecking\W*(accept-new|no|off)\b|UserKnownHostsFile\W*/dev/null|host_key_checking\s*=\s*(false|no|0)\b"
                     r"|ANSIBLE_HOST_KEY_CHECKING\W*(false|no|0)\b", re.IGNORECASE)
    found = ["%s: %s" % (path.relative_to(project), m.group(0)) for path in sources if path.exists()
             for m in [bad.search(path.read_text(errors="replace"))] if m]
    assert found == []
    backup_code = list((plugins / "module_utils" / "backup").glob("*.py")) + [plugins / "modules" / "backup_jobs.py",
                                                                              plugins / "modules" / "backup_restore.py"]
    for path in backup_code:
        text = path.read_text()
        assert "shell=True" not in text and "use_unsafe_shell" not in text, path


REST = "rest:https://restic:UNIT-SECRET-pw@rest.backup.test:8000/c1/"


def test_job_records_status_files_and_errors_never_carry_a_repository_password(tmp_path, capsys):
    job = job_description(tmp_path, repository=REST)
    config = tmp_path / "job.json"
    config.write_text(json.dumps(job))

    def failing(j, run):
        raise runner.JobError("restic: %s" % runner.explain("Fatal: unable to open repository at %s: 401\n" % REST))

    assert runner.main([str(config)], run=None, run_job=failing) == 1
    status = tmp_path / "status" / "demo" / "c1.web.json"
    text = status.read_text()
    assert "UNIT-SECRET" not in text and "restic:****@rest.backup.test" in text
    assert oct(status.stat().st_mode & 0o777) == "0o600"
    assert "UNIT-SECRET" not in capsys.readouterr().err


def test_the_plan_and_diff_of_a_rest_repository_are_redacted():
    rest_jobs = [dict(JOBS[1], repository=REST)]
    after = wanted(jobs_=rest_jobs)
    changes, writes, _removals = jobs.plan_files({}, after, "demo", SETTINGS, {"c2"}, False)
    text = json.dumps(changes) + jobs.diff_text(after, writes)
    assert "UNIT-SECRET" not in text and "restic:****@rest.backup.test" in text
    before = on_host(wanted())
    changes, writes, _removals = jobs.plan_files(before, after, "demo", SETTINGS, {"c1", "c2"}, False)
    assert "UNIT-SECRET" not in json.dumps(changes) + jobs.diff_text(before, writes) + jobs.diff_text(after, writes)


def test_the_installed_runner_carries_the_redaction_and_runs_standalone(tmp_path):
    import inspect
    import sys

    from ansible_collections.fracto.hosting.plugins.module_utils import secrets

    script = tmp_path / "fracto-backup-job"
    script.write_text(jobs.runner_script(inspect.getsource(secrets), inspect.getsource(runner)))
    compile(script.read_text(), str(script), "exec")
    job = job_description(tmp_path, repository=REST, databases=["c1_db"])
    config = tmp_path / "job.json"
    config.write_text(json.dumps(job))
    env = {"PATH": str(tmp_path / "nothing-here")}  # no mariadb-dump, no restic: the job fails and is recorded
    proc = subprocess.run([sys.executable, "-I", str(script), str(config)], capture_output=True, text=True, check=False,
                          env=env, cwd=str(tmp_path))
    assert proc.returncode == 1, proc.stderr
    record_text = (tmp_path / "status" / "demo" / "c1.web.json").read_text()
    assert "UNIT-SECRET" not in record_text + proc.stderr and "restic:****@" in record_text


# --- restores: staging, no owners or setuid bits, as the tenant -------------------------------------------------

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


@pytest.mark.parametrize("key, value", [("timeout", "1h\nExecStartPre=/bin/sh -c id"), ("on_calendar", "daily\nOnBootSec=1"),
                                        ("randomized_delay", "1h; rm"), ("timeout", "")])
def test_unit_settings_that_would_add_a_line_to_a_unit_are_refused(key, value):
    """on_calendar, randomized_delay and timeout are written into root's units: one systemd value each (found by molecule/tenancy)."""
    problems = jobs.validate_inputs(JOBS[:1], PASSWORDS, KEY, KNOWN_HOSTS, "demo", dict(SETTINGS, **{key: value}), [], [])
    assert any(p.startswith("%s: refused" % key) for p in problems), problems
    assert not jobs.validate_inputs(JOBS[:1], PASSWORDS, KEY, KNOWN_HOSTS, "demo", SETTINGS, [], [])
