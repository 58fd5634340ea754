#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: backup_jobs
short_description: Converge every restic backup job of a host in one call
version_added: 1.0.0
description:
  - Takes the C(backup_jobs) of the host's desired state (C(fracto.hosting.client_state) with C(resolve=true)) and
    converges, in one call, per job (one client, one side), the runner's job description, the restic password file
    (0600), a systemd service and a timer (C(RandomizedDelaySec), C(Persistent=true)), the runner itself
    (C(/usr/local/sbin/fracto-backup-job)) and the SSH key the host uses for SFTP targets.
  - Initialises each repository that does not exist yet (C(restic init)) and reports it; in check mode it only
    reports it. An unreachable target or a wrong password is a warning here (the job fails, loudly, when it runs).
  - The runner dumps the client's databases (C(mariadb-dump --single-transaction)), backs up its site and dumps
    (web side) or its Maildirs (mail side), tags the snapshot C(reseller=), C(client=), C(side=), applies the keep
    policy (C(restic forget --prune)) and records the result in
    C(<status_dir>/<reseller>/<client>.<side>.json) (0600, root only, repository redacted).
  - Jobs of a client still in the state but no longer wanted are removed (their snapshots stay in the repository);
    those of clients gone from the state are kept unless O(prune), and reported in RV(kept) and as C(keep) lines of
    the plan without being a change.
  - No password or key is ever printed; diffs show them as a marker, repositories as C(user:****@host).
  - Holds the host-wide lock (C(/run/fracto/host.lock)) while it writes.
options:
  jobs:
    description:
      - The host's C(backup_jobs) without their passwords; each C({client, side, what, repository, keep, managed_by}).
      - C(no_log) (a REST repository URL may carry a password); the result still names each job, with repositories
        redacted (C(user:****@host)).
      - Each repository is checked against the platform's grammar (whole value) and anything else is refused, with
        an sftp user C([a-z_][a-z0-9_-]{0,31}), a host that is a DNS name or an IPv4 address, a port from 1 to 65535;
        C(sftp:), C(rest:https://), C(s3:) and C(b2:) only (local paths, C(rclone:) and the other backends are refused).
    type: list
    elements: dict
    required: true
  passwords:
    description:
      - The restic password of each job, keyed C(<client>/<side>). Kept apart from O(jobs) so that only the passwords
        are secret.
    type: dict
    required: true
  ssh_key:
    description:
      - The private SSH key (OpenSSH format) the host logs in to SFTP targets with (the platform's backup key, from the
        vault). Required when a job's repository is C(sftp:).
    type: str
    default: ""
  known_hosts:
    description:
      - The pinned host keys of the SFTP targets (known_hosts lines, from the platform inventory's
        C(fracto_ssh_known_hosts)), written to C(<config_dir>/ssh/known_hosts). Required when a job's repository is
        C(sftp:), and must name its host (C([host]:port) for a port other than 22); ssh never accepts a new key.
    type: str
    default: ""
  databases:
    description: The host's databases, each C({name, client}) (no password); those of a client are dumped by its web job.
    type: list
    elements: dict
    default: []
  mailboxes:
    description: The host's mailboxes, each C({address, client}); those of a client are saved by its mail job.
    type: list
    elements: dict
    default: []
  reseller:
    description: The reseller whose jobs these are (files and units are named after it).
    type: str
    required: true
  clients:
    description: Every client of the reseller; jobs of other clients are kept unless O(prune).
    type: list
    elements: str
    default: []
  prune:
    description: Remove the jobs of clients that left the state.
    type: bool
    default: false
  host:
    description: The name snapshots are taken under (C(restic backup --host)).
    type: str
    required: true
  host_names:
    description: Every name of this host; a repository on one of them is not outside the host.
    type: list
    elements: str
    default: []
  on_calendar:
    description: When the timers fire (systemd C(OnCalendar)).
    type: str
    default: daily
  randomized_delay:
    description: The timers' C(RandomizedDelaySec).
    type: str
    default: 1h
  timeout:
    description: The services' C(TimeoutStartSec).
    type: str
    default: 6h
  config_dir:
    description: Job descriptions, password files and the SSH key.
    type: path
    default: /etc/fracto/backup
  status_dir:
    description: Job records, C(<reseller>/<client>.<side>.json).
    type: path
    default: /var/lib/fracto/backup/status
  spool_dir:
    description: Client-private spools of the database dumps.
    type: path
    default: /var/lib/fracto/backup/spool
  cache_dir:
    description: restic's cache.
    type: path
    default: /var/cache/fracto-backup
  units_dir:
    description: Where the systemd units are written.
    type: path
    default: /etc/systemd/system
  runner:
    description: Where the job runner is installed.
    type: path
    default: /usr/local/sbin/fracto-backup-job
  web_root:
    description: The clients' homes on web hosts (C(<web_root>/<client>)).
    type: path
    default: /srv/www
  vmail_home:
    description: The mailboxes' homes on mail hosts (C(<vmail_home>/<domain>/<local>/Maildir)).
    type: path
    default: /var/vmail
attributes:
  check_mode:
    support: full
    description: Reports every file, unit and repository it would create or change; writes nothing, initialises nothing.
  diff_mode:
    support: full
    description: The job descriptions and units before and after; password files and the key appear as a marker.
  platform:
    support: full
    platforms: posix
    description: Debian 12 hosts of the platform with systemd and Debian's C(restic).
requirements:
  - restic (Debian's package), OpenSSH client, systemd
author:
  - fracto.hosting founding engineers (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Converge the backup jobs of this host
  fracto.hosting.backup_jobs:
    jobs: "{{ state.backup_jobs | map('ansible.utils.remove_keys', target=['password']) | list }}"
    passwords: "{{ dict(state.backup_jobs | map(attribute='client') | zip(state.backup_jobs | map(attribute='password'))) }}"
    ssh_key: "{{ fracto_backup_ssh_key }}"
    known_hosts: "{{ fracto_ssh_known_hosts }}"
    reseller: demo
    host: "{{ inventory_hostname }}"
"""

RETURN = r"""
changes:
  description: One entry per job created, changed, removed or kept (kind C(backup), id C(<client>/<side>)); no secret.
  returned: always
  type: list
  elements: dict
kept:
  description:
    - The jobs (C(<client>/<side>)) of clients gone from the state, kept on the host because O(prune) is off. They are
      listed in RV(changes) as C(keep) (a plan line) but are not a change (a rerun reports C(changed=false)).
  returned: always
  type: list
  elements: str
initialised:
  description: The jobs (C(<client>/<side>)) whose repository was initialised (or would be, in check mode).
  returned: always
  type: list
  elements: str
"""

import inspect
import json
import os
from types import SimpleNamespace

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.fracto.hosting.plugins.module_utils import metrics as metrics_module
from ansible_collections.fracto.hosting.plugins.module_utils import secrets as secrets_module
from ansible_collections.fracto.hosting.plugins.module_utils.backup import runner as runner_module
from ansible_collections.fracto.hosting.plugins.module_utils.backup.jobs import (
    DEFAULTS,
    RESELLER,
    diff_text,
    job_of_path,
    job_paths,
    outcome,
    plan_files,
    private_directories,
    runner_script,
    ssh_paths,
    validate_inputs,
    wanted_files,
)
from ansible_collections.fracto.hosting.plugins.module_utils.backup.runner import Restic, explain, is_missing
from ansible_collections.fracto.hosting.plugins.module_utils.files import write_atomic
from ansible_collections.fracto.hosting.plugins.module_utils.lock import run_locked
from ansible_collections.fracto.hosting.plugins.module_utils.secrets import narrow_no_log, redact_url

SETTINGS = ("config_dir", "status_dir", "spool_dir", "cache_dir", "units_dir", "runner", "web_root", "vmail_home",
            "on_calendar", "randomized_delay", "timeout")


def runner_source():
    """The runner installed on the host: secrets.py, metrics.py and runner.py in one file, and its entry point."""
    return runner_script(inspect.getsource(secrets_module), inspect.getsource(runner_module), inspect.getsource(metrics_module))


def module_run(module):
    """A subprocess.run stand-in for the runner's classes, on AnsibleModule.run_command."""
    def run(command, env=None, **_kwargs):
        rc, out, err = module.run_command(command, environ_update=env or {})
        return SimpleNamespace(returncode=rc, stdout=out, stderr=err)
    return run


def read_file(path):
    try:
        with open(path) as handle:
            content = handle.read()
        return {"content": content, "mode": os.stat(path).st_mode & 0o7777}
    except FileNotFoundError:
        return None


def read_current(wanted, reseller, settings):
    paths = set(wanted)
    own_dir = os.path.join(settings["config_dir"], reseller)
    if os.path.isdir(own_dir):
        paths.update(os.path.join(own_dir, n) for n in os.listdir(own_dir))
    if os.path.isdir(settings["units_dir"]):
        paths.update(os.path.join(settings["units_dir"], n) for n in os.listdir(settings["units_dir"])
                     if n.startswith("fracto-backup-%s-" % reseller))
    current = {}
    for path in paths:
        if path in wanted or job_of_path(path, reseller, settings):
            found = read_file(path)
            if found is not None:
                current[path] = found
    return current


def systemctl(module, *args):
    return module.run_command(["systemctl"] + list(args))


def private_records(settings, reseller, directories):
    """Directories and job records of this reseller whose mode is wider than root-only (to narrow, in words)."""
    found = []
    for directory, mode in directories:
        if os.path.isdir(directory) and not os.path.islink(directory) and os.stat(directory).st_mode & 0o777 & ~mode:
            found.append("%s (%o)" % (directory, os.stat(directory).st_mode & 0o777))
    records = os.path.join(settings["status_dir"], reseller)
    if os.path.isdir(records) and not os.path.islink(records):
        for name in sorted(os.listdir(records)):
            path = os.path.join(records, name)
            if os.path.isfile(path) and not os.path.islink(path) and os.stat(path).st_mode & 0o077:
                found.append("%s (%o)" % (path, os.stat(path).st_mode & 0o777))
    return found


def make_private(settings, reseller, directories):
    for directory, mode in directories:
        if not os.path.isdir(directory):
            os.makedirs(directory, mode)
        if not os.path.islink(directory):
            os.chmod(directory, mode)
    records = os.path.join(settings["status_dir"], reseller)
    for name in os.listdir(records):
        path = os.path.join(records, name)
        if os.path.isfile(path) and not os.path.islink(path) and os.stat(path).st_mode & 0o077:
            os.chmod(path, 0o600)


def find_timers(module, jobs, settings, reseller, changes):
    """Timers to enable and start (a fresh host, or a timer stopped by hand); their jobs' changes say so.
    Returns (timers, by_id)."""
    timers = {}
    for job in jobs:
        timer = os.path.basename(job_paths(settings, reseller, job)["timer"])
        rc_enabled, _out, _err = systemctl(module, "is-enabled", "--quiet", "--", timer)
        rc_active, _out, _err = systemctl(module, "is-active", "--quiet", "--", timer)
        if rc_enabled != 0 or rc_active != 0:
            timers[timer] = job
    by_id = {c["id"]: c for c in changes}
    for job in timers.values():
        ident = "%s/%s" % (job["client"], job["side"])
        if ident in by_id:
            if by_id[ident]["action"] == "change":
                by_id[ident]["detail"].append("timer started")
        else:
            entry = {"action": "change", "kind": "backup", "id": ident, "client": job["client"], "detail": ["timer started"]}
            changes.append(entry)
            by_id[ident] = entry
    return timers, by_id


def converge(module, p, jobs, settings, reseller, directories, writes, removals, wanted, units_changed, changes):
    """The writing part (under the host lock): files, units, timers, repositories. Returns (initialised, warnings)."""
    initialised, warnings = [], []
    timers, by_id = find_timers(module, jobs, settings, reseller, changes)
    if not module.check_mode:
        make_private(settings, reseller, directories)
        for path in removals:
            if path.endswith(".timer"):
                systemctl(module, "disable", "--now", "--", os.path.basename(path))
        for path in removals:
            os.unlink(path)
            if path.endswith(".json") and path.startswith(os.path.join(settings["config_dir"], reseller) + "/"):
                status = os.path.join(settings["status_dir"], reseller, os.path.basename(path))
                if os.path.exists(status):
                    os.unlink(status)
        for path in writes:
            write_atomic(path, wanted[path]["content"], wanted[path]["mode"])
        if units_changed:
            rc, _out, err = systemctl(module, "daemon-reload")
            if rc != 0:
                module.fail_json(msg="systemctl daemon-reload failed: %s" % err.strip(), changes=changes)
        for timer in sorted(timers):
            rc, _out, err = systemctl(module, "enable", "--now", "--", timer)
            if rc != 0:
                module.fail_json(msg="cannot start %s: %s" % (timer, err.strip()), changes=changes)

    # Repositories: initialised when missing (only reported in check mode, where the job is fully set up already).
    restic_bin = module.get_bin_path("restic")
    for job in jobs:
        ident = "%s/%s" % (job["client"], job["side"])
        paths = job_paths(settings, reseller, job)
        ready = all(path not in writes for path in (paths["config"], paths["password"]) + ssh_paths(settings))
        if restic_bin is None or (module.check_mode and not ready):
            if ident in by_id and by_id[ident]["action"] == "create":
                by_id[ident]["detail"].append("repository checked (initialised if missing) when applied")
            continue
        with open(paths["config"]) as handle:
            desc = json.load(handle)
        restic = Restic(desc, module_run(module), binary=restic_bin)
        probe = restic("cat", "config", check=False, retries=0)
        if probe.returncode == 0:
            continue
        if not is_missing(probe.stderr):
            warnings.append("backup %s: repository not checked: %s" % (ident, explain(probe.stderr)))
            continue
        if not module.check_mode:
            if restic("init", check=False, retries=0).returncode != 0 and restic("cat", "config", check=False, retries=0).returncode != 0:
                warnings.append("backup %s: repository could not be initialised" % ident)
                continue
        initialised.append(ident)
        detail = "repository initialised" if not module.check_mode else "repository would be initialised"
        if ident in by_id:
            by_id[ident]["detail"].append(detail)
        else:
            entry = {"action": "change", "kind": "backup", "id": ident, "client": job["client"], "detail": [detail]}
            changes.append(entry)
            by_id[ident] = entry

    return initialised, warnings


def argument_spec():
    spec = dict(
        # no_log: a repository URL may carry a password; narrow_no_log below keeps the result able to name the jobs.
        jobs=dict(type="list", elements="dict", required=True, no_log=True),
        passwords=dict(type="dict", required=True, no_log=True),
        ssh_key=dict(type="str", default="", no_log=True),
        known_hosts=dict(type="str", default=""),
        databases=dict(type="list", elements="dict", default=[]),
        mailboxes=dict(type="list", elements="dict", default=[]),
        reseller=dict(type="str", required=True),
        clients=dict(type="list", elements="str", default=[]),
        prune=dict(type="bool", default=False),
        host=dict(type="str", required=True),
        host_names=dict(type="list", elements="str", default=[]),
    )
    for name in SETTINGS:
        spec[name] = dict(type="str" if name in ("on_calendar", "randomized_delay", "timeout") else "path", default=DEFAULTS[name])
    return spec


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    p = module.params
    settings = {name: p[name] for name in SETTINGS}
    jobs = p["jobs"]
    narrow_no_log(module.no_log_values, jobs, secret=[p["passwords"], p["ssh_key"]])
    reseller = p["reseller"]
    problems = validate_inputs(jobs, p["passwords"], p["ssh_key"], p["known_hosts"], reseller, settings,
                               p["databases"], p["mailboxes"])
    if problems:
        module.fail_json(msg=redact_url("; ".join(problems)) + "; nothing was changed", changes=[])
    host_names = sorted(set(p["host_names"] + [p["host"]]))
    wanted = wanted_files(jobs, p["passwords"], p["ssh_key"], reseller, p["host"], host_names, settings,
                          p["databases"], p["mailboxes"], runner_source(), known_hosts=p["known_hosts"])
    current = read_current(wanted, reseller, settings)
    changes, writes, removals = plan_files(current, wanted, reseller, settings, set(p["clients"]), p["prune"])
    units_changed = any(path.endswith((".service", ".timer")) for path in writes + removals)

    # Directories: root only (job records too: 0700 directories, 0600 files); a wider mode found is narrowed.
    directories = private_directories(settings, reseller)
    narrowed = private_records(settings, reseller, directories)
    if narrowed:
        changes.append({"action": "change", "kind": "backup", "id": "job records", "client": RESELLER,
                        "detail": ["made root-only: %s" % ", ".join(narrowed)]})

    def apply():
        return converge(module, p, jobs, settings, reseller, directories, writes, removals, wanted, units_changed, changes)

    if module.check_mode:
        initialised, warnings = apply()
    else:
        initialised, warnings = run_locked(module, "fracto.hosting.backup_jobs", apply, reseller=reseller)

    for warning in warnings:
        module.warn(warning)
    changes.sort(key=lambda c: (c["client"], c["id"]))
    changed, kept = outcome(changes)
    result = dict(changed=changed, changes=changes, kept=kept, initialised=initialised)
    if module._diff:
        touched = writes + removals
        result["diff"] = dict(before=diff_text(current, touched), after=diff_text(wanted, writes))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
