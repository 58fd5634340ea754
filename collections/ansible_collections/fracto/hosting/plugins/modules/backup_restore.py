#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: backup_restore
short_description: Restore one client's site, database or mailbox from its restic backups
version_added: 1.0.0
description:
  - Restores, from a chosen snapshot of the client's backup job on this host (default the latest), one of
    the client's site files (its whole home or one path in it), one of its databases (the dump taken by the job,
    imported into the database), or one of its mailboxes (or one folder of it).
  - In place (the default) or to a side path (O(dest)); nothing outside the chosen client's home, database or
    mailbox is read or written. In place, what the snapshot holds overwrites what is there; files made since stay.
  - Uses the job written by M(fracto.hosting.backup_jobs) (repository, password file, SSH key); an unknown client,
    snapshot, database, mailbox or path fails with a clear message before anything is written.
options:
  reseller:
    description: The reseller of the client.
    type: str
    required: true
  client:
    description: The client whose backup is restored.
    type: str
    required: true
  what:
    description: C(files) (web side), C(database) (web side) or C(mailbox) (mail side).
    type: str
    required: true
    choices: [files, database, mailbox]
  name:
    description: The database (O(what=database)) or the mailbox address (O(what=mailbox)).
    type: str
  path:
    description: With O(what=files), a path relative to the client's home (default the whole home).
    type: str
  folder:
    description: With O(what=mailbox), one IMAP folder (C(Archive), C(Archive/2024)); default the whole mailbox.
    type: str
  snapshot:
    description: C(latest) or a snapshot id (or a unique prefix of at least 4 characters).
    type: str
    default: latest
  dest:
    description:
      - A side path to restore into instead of in place (created 0700). Files keep their full path below it;
        a database dump is written as C(<dest>/<database>.sql) and not imported.
    type: path
  config_dir:
    description: Where M(fracto.hosting.backup_jobs) wrote the jobs.
    type: path
    default: /etc/fracto/backup
attributes:
  check_mode:
    support: full
    description: Finds the snapshot and checks that it holds what is asked for; restores nothing.
  diff_mode:
    support: none
    description: A restore puts back files and rows; it shows what it restores, not a diff.
  platform:
    support: full
    platforms: posix
    description: Debian 12 hosts of the platform with Debian's C(restic).
requirements:
  - restic (Debian's package); C(mariadb) for databases
author:
  - fracto.hosting founding engineers (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Restore cliente1's deleted page in place from the latest snapshot
  fracto.hosting.backup_restore:
    reseller: demo
    client: cliente1
    what: files
    path: cliente1.test/index.html

- name: Restore the Archive folder of a mailbox from a given snapshot to a side path
  fracto.hosting.backup_restore:
    reseller: demo
    client: cliente1
    what: mailbox
    name: info@cliente1.test
    folder: Archive
    snapshot: 4f2a9c1e
    dest: /root/restore
"""

RETURN = r"""
snapshot:
  description: The id of the snapshot restored from.
  returned: success
  type: str
restored:
  description: What was (or would be) restored, in words.
  returned: success
  type: str
entries:
  description: How many files and directories the snapshot holds at that path.
  returned: success
  type: int
target:
  description: Where it went (C(in place) or the side path).
  returned: success
  type: str
"""

import json
import os
import shlex
import shutil
import tempfile
from types import SimpleNamespace

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.fracto.hosting.plugins.module_utils.backup.restore import (
    SIDES,
    RestoreError,
    choose_snapshot,
    entries_under,
    parse_snapshots,
    restore_plan,
)
from ansible_collections.fracto.hosting.plugins.module_utils.backup.runner import JobError, Restic


def module_run(module):
    """A subprocess.run stand-in for the runner's classes, on AnsibleModule.run_command."""
    def run(command, env=None, **_kwargs):
        rc, out, err = module.run_command(command, environ_update=env or {})
        return SimpleNamespace(returncode=rc, stdout=out, stderr=err)
    return run


def main():
    module = AnsibleModule(
        argument_spec=dict(
            reseller=dict(type="str", required=True),
            client=dict(type="str", required=True),
            what=dict(type="str", required=True, choices=["files", "database", "mailbox"]),
            name=dict(type="str"),
            path=dict(type="str"),
            folder=dict(type="str"),
            snapshot=dict(type="str", default="latest"),
            dest=dict(type="path"),
            config_dir=dict(type="path", default="/etc/fracto/backup"),
        ),
        supports_check_mode=True,
    )
    p = module.params
    side = SIDES[p["what"]]
    config = os.path.join(p["config_dir"], p["reseller"], "%s.%s.json" % (p["client"], side))
    if not os.path.exists(config):
        module.fail_json(msg="client %s has no %s backup job on this host (no %s): unknown client, or its package has no backup"
                         % (p["client"], side, config))
    with open(config) as handle:
        job = json.load(handle)
    restic_bin = module.get_bin_path("restic", required=True)
    restic = Restic(job, module_run(module), binary=restic_bin)
    try:
        plan = restore_plan(job, p["what"], name=p["name"], path=p["path"], folder=p["folder"])
        tags = "client=%s,side=%s" % (job["client"], side)
        listing = restic("snapshots", "--json", "--tag", tags)
        snapshot = choose_snapshot(parse_snapshots(listing.stdout), p["snapshot"], "client %s (%s side)" % (job["client"], side))
        found = entries_under(restic("ls", "--json", snapshot["id"]).stdout, plan["include"])
        if not found:
            raise RestoreError("%s is not in snapshot %s (%s)" % (plan["include"], snapshot.get("short_id"), snapshot.get("time", "")[:19]))
    except (RestoreError, JobError) as exc:
        module.fail_json(msg=str(exc))
    result = dict(changed=True, snapshot=snapshot["id"], restored=plan["label"], entries=len(found),
                  target=p["dest"] or "in place")
    if module.check_mode:
        module.exit_json(**result)

    if "database" in plan:
        work = tempfile.mkdtemp(prefix="fracto-restore-")
        try:
            restic("restore", snapshot["id"], "--target", work, "--include", plan["include"])
            dump = work + plan["include"]
            if p["dest"]:
                os.makedirs(p["dest"], mode=0o700, exist_ok=True)
                target = os.path.join(p["dest"], "%s.sql" % plan["database"])
                shutil.copyfile(dump, target)
                os.chmod(target, 0o600)
            else:
                # As root over the socket; the dump goes in from its file, never through memory.
                rc, _out, err = module.run_command("mariadb %s < %s" % (shlex.quote(plan["database"]), shlex.quote(dump)),
                                                   use_unsafe_shell=True)
                if rc != 0:
                    module.fail_json(msg="import of %s failed: %s" % (plan["database"], err.strip()))
        except JobError as exc:
            module.fail_json(msg=str(exc))
        finally:
            shutil.rmtree(work, ignore_errors=True)
        module.exit_json(**result)

    target = p["dest"] or "/"
    if p["dest"]:
        os.makedirs(p["dest"], mode=0o700, exist_ok=True)
    try:
        restic("restore", snapshot["id"], "--target", target, "--include", plan["include"])
    except JobError as exc:
        module.fail_json(msg=str(exc))
    if "mailbox" in plan and not p["dest"]:
        doveadm = module.get_bin_path("doveadm")
        if doveadm:  # let Dovecot see restored folders and messages at once
            module.run_command([doveadm, "force-resync", "-u", plan["mailbox"], "*"])
    module.exit_json(**result)


if __name__ == "__main__":
    main()
