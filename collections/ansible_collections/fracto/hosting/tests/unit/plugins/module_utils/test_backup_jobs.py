# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The files, plan and input checks of backup_jobs (module_utils/backup/jobs.py): one job's files, what a change
says without its secrets, paths that stay under their roots, pinned host keys, unit settings."""

from __future__ import annotations

import json

import pytest
from ansible_collections.fracto.hosting.plugins.module_utils.backup import jobs
from ansible_collections.fracto.hosting.tests.unit.plugins.module_utils.backup_cases import DATABASES, JOBS, KEY, KNOWN_HOSTS, PASSWORDS, REST, SECRET, SETTINGS


def wanted(jobs_=None, settings=None, passwords=None):
    jobs_, settings, passwords = jobs_ or JOBS, settings or SETTINGS, passwords or PASSWORDS
    return jobs.wanted_files(jobs_, passwords, KEY, "demo", "cloud01", ["cloud01", "cloud01.fracto.test"], settings,
                             DATABASES, [], "#!/usr/bin/python3\nrunner\n", known_hosts=KNOWN_HOSTS)


def on_host(files):
    return {path: {"content": f["content"], "mode": f["mode"]} for path, f in files.items()}


# --- files and plan -------------------------------------------------------------------------------------------

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


def test_a_kept_job_is_reported_but_is_no_change():
    current = on_host(wanted())
    changes, writes, removals = jobs.plan_files(current, wanted(jobs_=JOBS[:1]), "demo", SETTINGS, {"c1"}, False)
    assert writes == [] and removals == []
    assert jobs.outcome(changes) == (False, ["c2/web"])
    changes, _writes, _removals = jobs.plan_files(current, wanted(jobs_=JOBS[:1]), "demo", SETTINGS, {"c1", "c2"}, False)
    assert jobs.outcome(changes) == (True, [])


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


# --- issue 12: hostile paths and ids, pinned host keys, redaction, unit settings --------------------------------

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


def test_the_plan_and_diff_of_a_rest_repository_are_redacted():
    rest_jobs = [dict(JOBS[1], repository=REST)]
    after = wanted(jobs_=rest_jobs)
    changes, writes, _removals = jobs.plan_files({}, after, "demo", SETTINGS, {"c2"}, False)
    text = json.dumps(changes) + jobs.diff_text(after, writes)
    assert "UNIT-SECRET" not in text and "restic:****@rest.backup.test" in text
    before = on_host(wanted())
    changes, writes, _removals = jobs.plan_files(before, after, "demo", SETTINGS, {"c1", "c2"}, False)
    assert "UNIT-SECRET" not in json.dumps(changes) + jobs.diff_text(before, writes) + jobs.diff_text(after, writes)


@pytest.mark.parametrize("key, value", [("timeout", "1h\nExecStartPre=/bin/sh -c id"), ("on_calendar", "daily\nOnBootSec=1"),
                                        ("randomized_delay", "1h; rm"), ("timeout", "")])
def test_unit_settings_that_would_add_a_line_to_a_unit_are_refused(key, value):
    """on_calendar, randomized_delay and timeout are written into root's units: one systemd value each (found by molecule/tenancy)."""
    problems = jobs.validate_inputs(JOBS[:1], PASSWORDS, KEY, KNOWN_HOSTS, "demo", dict(SETTINGS, **{key: value}), [], [])
    assert any(p.startswith("%s: refused" % key) for p in problems), problems
    assert not jobs.validate_inputs(JOBS[:1], PASSWORDS, KEY, KNOWN_HOSTS, "demo", SETTINGS, [], [])
