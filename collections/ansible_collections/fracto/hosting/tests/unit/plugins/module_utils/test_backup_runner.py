# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The backup job runner (module_utils/backup/runner.py): repositories and their grammar, the ssh command, restic,
the job and its record, the script installed on the host."""

from __future__ import annotations

import json
import subprocess

import pytest
from ansible_collections.fracto.hosting.plugins.module_utils.backup import jobs, runner
from ansible_collections.fracto.hosting.tests.unit.plugins.module_utils.backup_cases import JOBS, KEY, KNOWN_HOSTS, PASSWORDS, REST, SECRET, SETTINGS


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


# --- issue 12: hostile repositories and databases, the ssh argv, redaction ---------------------------------------

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


@pytest.mark.parametrize("database", ["mysql; x", "-e", "a" * 65, "c1_db\n"])
def test_a_hostile_database_name_is_refused_by_the_module_and_the_runner(database, tmp_path):
    assert any(p.startswith("database:") for p in
               jobs.validate_inputs(JOBS, PASSWORDS, KEY, KNOWN_HOSTS, "demo", SETTINGS, [{"name": database, "client": "c1"}], []))
    with pytest.raises(runner.JobError):
        runner.dump_databases(job_description(tmp_path, databases=[database]), str(tmp_path), run=None)


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


def test_the_installed_runner_carries_the_redaction_and_runs_standalone(tmp_path):
    import inspect
    import sys

    from ansible_collections.fracto.hosting.plugins.module_utils import metrics, secrets

    script = tmp_path / "fracto-backup-job"
    script.write_text(jobs.runner_script(inspect.getsource(secrets), inspect.getsource(runner), inspect.getsource(metrics)))
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
