"""Backups with restic on the demo platform: jobs on cloud01 (site files, database dumps) and mail01 (Maildirs) to
backup01 over SFTP (the reseller's target on port 22, cliente1's own on port 2222).

Every test puts back what it changed: probe files, table and folder are removed, the client's SFTP server is
started again, a password file is put back.
"""

import json
import os
import shlex
import uuid

import pytest
import testinfra
from conftest import PROJECT, run_playbook

INVENTORY = os.environ["MOLECULE_INVENTORY_FILE"]
CLOUD01 = testinfra.get_host("ansible://cloud01?ansible_inventory=" + INVENTORY)
MAIL01 = testinfra.get_host("ansible://mail01?ansible_inventory=" + INVENTORY)
BACKUP01 = testinfra.get_host("ansible://backup01?ansible_inventory=" + INVENTORY)
HOSTS = {"web": CLOUD01, "mail": MAIL01}
BACKUP_RUN = str(PROJECT / "playbooks" / "backup_run.yml")
RESTORE = str(PROJECT / "playbooks" / "restore.yml")
SITE = str(PROJECT / "playbooks" / "site.yml")
STATUS = "/var/lib/fracto/backup/status/demo"
JOBS = "/etc/fracto/backup/demo"
CLIENT_TARGET_UNIT = "fracto-lab-sftp-client"  # backup01's second SSH server: cliente1's own target
REPOS = {"cliente1": "/srv/restic/cliente1", "cliente2": "/srv/restic/demo/cliente2"}
CONTRACT = {"reseller", "client", "side", "what", "managed_by", "repository", "outside_host", "encrypted", "last_attempt",
            "last_status", "last_success", "last_error", "snapshot_id", "size_bytes"}
PROBE_FILE = "/srv/www/cliente1/cliente1.test/public/backup-probe.html"
MAILBOX = "info@cliente1.test"
MAILDIR = "/var/vmail/cliente1.test/info/Maildir"

RUNNER = "/usr/local/sbin/fracto-backup-job"
SSH_KEY, KNOWN_HOSTS = "/etc/fracto/backup/ssh/id_ed25519", "/etc/fracto/backup/ssh/known_hosts"
# restic's sftp.command for each client's repository, written out (not computed by the code under test): the platform's
# key, only the pinned host keys (fracto_ssh_known_hosts), no agent, no user config, never a prompt; cliente1's own
# target is sftp://restic@backup01.fracto.test:2222//srv/restic/cliente1, the reseller's sftp:restic@backup01...:/srv/...
_SSH = ("ssh -F none -i /etc/fracto/backup/ssh/id_ed25519 -o IdentitiesOnly=yes -o IdentityAgent=none"
        " -o UserKnownHostsFile=/etc/fracto/backup/ssh/known_hosts -o GlobalKnownHostsFile=/dev/null"
        " -o StrictHostKeyChecking=yes -o UpdateHostKeys=no -o BatchMode=yes -o ConnectTimeout=10"
        " -o ServerAliveInterval=15 -o ServerAliveCountMax=4")
SFTP_COMMANDS = {
    "cliente1": _SSH + " -p 2222 -l restic -s -- backup01.fracto.test sftp",
    "cliente2": _SSH + " -l restic -s -- backup01.fracto.test sftp",
}


def record(client, side):
    return json.loads(HOSTS[side].file("%s/%s.%s.json" % (STATUS, client, side)).content_string)


def restic(host, client, side, *args, password_file=None):
    """restic with the job's own repository and SSH key (and its password file unless another is given)."""
    job = json.loads(host.file("%s/%s.%s.json" % (JOBS, client, side)).content_string)
    return host.run("RESTIC_REPOSITORY=%s RESTIC_PASSWORD_FILE=%s RESTIC_CACHE_DIR=/var/cache/fracto-backup restic -o %s %s" % (
        shlex.quote(job["repository"]), shlex.quote(password_file or job["password_file"]),
        shlex.quote("sftp.command=%s" % SFTP_COMMANDS[client]), " ".join(shlex.quote(a) for a in args)))


def run_backup(*extra):
    return run_playbook(PROJECT, BACKUP_RUN, *extra)


def restore(*extra):
    return run_playbook(PROJECT, RESTORE, *extra)



def test_each_job_has_its_timer_service_and_private_password_file():
    for side, host in HOSTS.items():
        for client in ("cliente1", "cliente2"):
            unit = "fracto-backup-demo-%s-%s" % (client, side)
            timer = host.service(unit + ".timer")
            assert timer.is_enabled and timer.is_running, unit
            text = host.file("/etc/systemd/system/%s.timer" % unit).content_string
            assert "RandomizedDelaySec=1h" in text and "Persistent=true" in text and "OnCalendar=daily" in text
            assert "ExecStart=/usr/local/sbin/fracto-backup-job %s/%s.%s.json" % (JOBS, client, side) in \
                host.file("/etc/systemd/system/%s.service" % unit).content_string
            password = host.file("%s/%s.%s.password" % (JOBS, client, side))
            assert password.mode == 0o600 and password.user == "root"
        assert not host.file("%s/cliente3.%s.json" % (JOBS, side)).exists  # package entry: backup none
    assert CLOUD01.file("/etc/fracto/backup/ssh/id_ed25519").mode == 0o600


def test_the_installed_runner_gives_restic_the_pinned_ssh_of_each_target():
    """What the runner installed on the hosts passes restic for each job (its restic_options, run on the host against
    the job's own description) is the ssh command written out above: the platform key, the pinned known_hosts, the
    target's port and account, never a prompt."""
    script = ("import json, runpy, sys; runner = runpy.run_path(%r); "
              "print(json.dumps(runner['restic_options'](json.load(open(sys.argv[1])))))" % RUNNER)
    for side, host in HOSTS.items():
        for client in ("cliente1", "cliente2"):
            path = "%s/%s.%s.json" % (JOBS, client, side)
            job = json.loads(host.file(path).content_string)
            assert (job["ssh_key"], job["known_hosts"]) == (SSH_KEY, KNOWN_HOSTS), job
            options = json.loads(host.check_output("python3 -c %s %s" % (shlex.quote(script), path)))
            assert options == ["-o", "sftp.command=%s" % SFTP_COMMANDS[client]], (client, side, options)
    assert "backup01.fracto.test" in CLOUD01.file(KNOWN_HOSTS).content_string and CLOUD01.file(KNOWN_HOSTS).mode == 0o600


def test_job_records_follow_the_contract():
    for side, host in HOSTS.items():
        for client, managed_by in (("cliente1", "client"), ("cliente2", "reseller")):
            path = "%s/%s.%s.json" % (STATUS, client, side)
            assert host.file(path).mode == 0o600 and host.file(path).user == "root"  # tenants never read a repository URL
            rec = record(client, side)
            assert set(rec) == CONTRACT
            assert rec["last_status"] == "ok" and rec["last_error"] is None and rec["snapshot_id"], rec
            assert rec["encrypted"] is True and rec["outside_host"] is True and rec["managed_by"] == managed_by
            assert rec["what"] == (["files", "databases"] if side == "web" else ["mailboxes"])
            assert rec["repository"].endswith(REPOS[client]) and rec["size_bytes"] > 0


def test_a_run_creates_a_snapshot_in_backup01s_repository():
    before = record("cliente2", "web")
    rc, out = run_backup("-e", "client=cliente2")
    assert rc == 0, out[-3000:]
    after = record("cliente2", "web")
    assert after["snapshot_id"] != before["snapshot_id"] and after["last_success"] >= before["last_success"]
    files = BACKUP01.run("ls %s/snapshots" % REPOS["cliente2"]).stdout.split()
    assert any(f.startswith(after["snapshot_id"]) for f in files), files
    listed = json.loads(restic(CLOUD01, "cliente2", "web", "snapshots", "--json").stdout)
    snap = next(s for s in listed if s["id"].startswith(after["snapshot_id"]))
    assert sorted(snap["tags"]) == ["client=cliente2", "reseller=demo", "side=web"] and snap["hostname"] == "cloud01"
    assert "/srv/www/cliente2" in snap["paths"]


def test_the_repository_cannot_be_read_without_its_password():
    wrong = "/root/backup-test-wrong-password"
    CLOUD01.run("umask 077; printf %%s %s > %s" % (uuid.uuid4().hex, wrong))
    try:
        denied = restic(CLOUD01, "cliente1", "web", "snapshots", password_file=wrong)
        assert denied.rc != 0 and "wrong password" in denied.stderr, denied.stderr
        assert restic(CLOUD01, "cliente1", "web", "snapshots").rc == 0
    finally:
        CLOUD01.run("rm -f %s" % wrong)


def _others_fingerprint():
    """What the restores must not touch: the other clients' files, mail and database."""
    web = CLOUD01.check_output("cd /srv/www && find cliente2 cliente3 -type f -print0 | sort -z | xargs -0 sha256sum")
    mail = MAIL01.check_output("cd /var/vmail && find cliente2.test cliente3.test -path '*/cur/*' -type f -print0 2>/dev/null"
                               " | sort -z | xargs -0 -r sha256sum")
    db = CLOUD01.check_output("mariadb-dump --skip-dump-date --skip-comments cliente3_joomla | sha256sum")
    return web, mail, db


@pytest.fixture
def probes():
    """A file, a table with three rows and a mail folder with one message of cliente1, removed afterwards."""
    marker = "backup-probe-%s" % uuid.uuid4().hex
    CLOUD01.check_output("printf %%s %s > %s && chown cliente1:www-data %s && chmod 0640 %s" % (marker, PROBE_FILE, PROBE_FILE, PROBE_FILE))
    CLOUD01.check_output("mariadb cliente1_db -e %s" % shlex.quote(
        "DROP TABLE IF EXISTS backup_probe; CREATE TABLE backup_probe (id INT PRIMARY KEY, note VARCHAR(64));"
        " INSERT INTO backup_probe VALUES (1, 'one'), (2, 'two'), (3, 'three')"))
    MAIL01.run("doveadm mailbox create -u %s Archive" % MAILBOX)
    MAIL01.check_output("printf 'From: probe@cliente1.test\\r\\nSubject: %s\\r\\n\\r\\nkept\\r\\n' | doveadm save -u %s -m Archive"
                        % (marker, MAILBOX))
    yield marker
    CLOUD01.run("rm -f %s; rm -rf /root/restore-probe" % PROBE_FILE)
    CLOUD01.run("mariadb cliente1_db -e 'DROP TABLE IF EXISTS backup_probe'")
    MAIL01.run("doveadm mailbox delete -u %s Archive" % MAILBOX)


def _archive_subjects():
    out = MAIL01.run("doveadm fetch -u %s hdr.subject mailbox Archive ALL" % MAILBOX)
    return out.stdout if out.rc == 0 else ""


def test_deleted_file_row_and_mail_folder_are_restored_and_nothing_else_changes(probes):
    marker = probes
    rc, out = run_backup("-e", "client=cliente1")
    assert rc == 0, out[-3000:]
    web_snapshot = record("cliente1", "web")["snapshot_id"]
    # Encrypted at rest: the probe's content is nowhere in the repository's files on backup01.
    assert BACKUP01.run("grep -rl %s %s" % (marker, REPOS["cliente1"])).rc == 1
    others = _others_fingerprint()

    CLOUD01.check_output("rm %s" % PROBE_FILE)
    CLOUD01.check_output("mariadb cliente1_db -e 'DELETE FROM backup_probe WHERE id = 2'")
    MAIL01.check_output("rm -rf %s/.Archive && doveadm force-resync -u %s '*'" % (MAILDIR, MAILBOX))
    assert marker not in _archive_subjects()

    # --check finds the snapshot and the file in it, restores nothing.
    rc, out = restore("-e", "client=cliente1", "-e", "what=files", "-e", "path=cliente1.test/public/backup-probe.html", "--check")
    assert rc == 0 and "1 entries from snapshot" in out, out[-3000:]
    assert not CLOUD01.file(PROBE_FILE).exists

    rc, out = restore("-e", "client=cliente1", "-e", "what=files", "-e", "path=cliente1.test/public/backup-probe.html")
    assert rc == 0, out[-3000:]
    restored = CLOUD01.file(PROBE_FILE)
    assert restored.content_string == marker and restored.user == "cliente1" and restored.mode == 0o640

    rc, out = restore("-e", "client=cliente1", "-e", "what=database", "-e", "database=cliente1_db", "-e", "snapshot=%s" % web_snapshot)
    assert rc == 0, out[-3000:]
    rows = CLOUD01.check_output("mariadb -N cliente1_db -e 'SELECT id FROM backup_probe ORDER BY id'")
    assert rows.split() == ["1", "2", "3"]

    rc, out = restore("-e", "client=cliente1", "-e", "what=mailbox", "-e", "mailbox=%s" % MAILBOX, "-e", "folder=Archive")
    assert rc == 0, out[-3000:]
    assert marker in _archive_subjects()

    # To a side path: the file below it with its full path, nothing in place changes.
    rc, out = restore("-e", "client=cliente1", "-e", "what=files", "-e", "path=cliente1.test/public", "-e", "dest=/root/restore-probe")
    assert rc == 0, out[-3000:]
    assert CLOUD01.file("/root/restore-probe" + PROBE_FILE).content_string == marker

    assert _others_fingerprint() == others


@pytest.mark.parametrize("extra, message", [
    (["-e", "client=nobody", "-e", "what=files"], "unknown client nobody"),
    (["-e", "client=cliente3", "-e", "what=files"], "client cliente3 has no backups"),
    (["-e", "client=cliente1", "-e", "what=files", "-e", "snapshot=deadbeef"], "unknown snapshot deadbeef"),
    (["-e", "client=cliente1", "-e", "what=database", "-e", "database=cliente3_joomla"], "database cliente3_joomla is not one of client cliente1"),
])
def test_restore_refuses_unknown_clients_snapshots_and_others_data(extra, message):
    rc, out = restore(*extra)
    assert rc != 0 and message in " ".join(out.split()), out[-3000:]


def test_an_unreachable_target_fails_only_that_clients_jobs_and_the_next_run_recovers():
    before = {(c, s): record(c, s) for c in ("cliente1", "cliente2") for s in HOSTS}
    BACKUP01.check_output("systemctl stop %s" % CLIENT_TARGET_UNIT)
    try:
        rc, out = run_backup()
        assert rc != 0 and "backup failed on cloud01 for: cliente1" in out, out[-3000:]
        for side, host in HOSTS.items():
            failed, ok = record("cliente1", side), record("cliente2", side)
            assert failed["last_status"] == "failed" and "target unreachable" in failed["last_error"], failed
            assert failed["last_attempt"] >= before[("cliente1", side)]["last_attempt"]
            assert failed["last_success"] == before[("cliente1", side)]["last_success"]
            assert failed["snapshot_id"] == before[("cliente1", side)]["snapshot_id"]
            assert ok["last_status"] == "ok" and ok["snapshot_id"] != before[("cliente2", side)]["snapshot_id"], ok
            assert host.run("systemctl is-failed fracto-backup-demo-cliente1-%s.service" % side).stdout.strip() == "failed"
    finally:
        BACKUP01.check_output("systemctl start %s" % CLIENT_TARGET_UNIT)
    rc, out = run_backup()
    assert rc == 0, out[-3000:]
    for side in HOSTS:
        rec = record("cliente1", side)
        assert rec["last_status"] == "ok" and rec["last_error"] is None and rec["last_success"] == rec["last_attempt"]


def test_a_wrong_password_fails_the_job_loudly_and_the_next_run_recovers():
    password = "%s/cliente2.web.password" % JOBS
    unit = "fracto-backup-demo-cliente2-web.service"
    CLOUD01.check_output("cp -p %s %s.test-orig && printf %%s not-the-password-%s > %s" % (password, password, uuid.uuid4().hex, password))
    try:
        run = CLOUD01.run("systemctl start %s" % unit)
        assert run.rc != 0
        rec = record("cliente2", "web")
        assert rec["last_status"] == "failed" and "wrong repository password" in rec["last_error"], rec
        assert record("cliente1", "web")["last_status"] == "ok"
    finally:
        CLOUD01.check_output("mv %s.test-orig %s" % (password, password))
    assert CLOUD01.run("systemctl start %s" % unit).rc == 0
    assert record("cliente2", "web")["last_status"] == "ok"


def test_check_diff_shows_backup_configuration_changes_without_secrets_and_changes_nothing(vault):
    rc, out = run_playbook(PROJECT, SITE, "--check", "--diff", "-e", "fracto_backup__randomized_delay=2h")
    assert rc == 0, out[-3000:]
    for job in ("cliente1/web", "cliente2/web", "cliente1/mail", "cliente2/mail"):
        assert "~ backup %s: timer rewritten" % job in out, out[-5000:]
    assert "+RandomizedDelaySec=2h" in out and "-RandomizedDelaySec=1h" in out
    for key in ("vault_demo_backup_password", "vault_cliente1_backup_password"):
        assert vault[key] not in out
    assert "RandomizedDelaySec=1h" in CLOUD01.file("/etc/systemd/system/fracto-backup-demo-cliente1-web.timer").content_string


def test_the_lab_is_as_found():
    assert BACKUP01.service(CLIENT_TARGET_UNIT).is_running
    for side in HOSTS:
        for client in ("cliente1", "cliente2"):
            assert record(client, side)["last_status"] == "ok"
    assert not CLOUD01.file(PROBE_FILE).exists
