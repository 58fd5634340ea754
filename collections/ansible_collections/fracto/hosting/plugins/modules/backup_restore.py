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
  - Never as root in a tenant's tree - C(restic restore) writes into a fresh root-only staging directory under
    O(staging_dir) (0700, outside every tenant tree); the files are then copied into the client's tree by C(tar)
    running as the client's own user (O(owner), or O(mail_owner) for a mailbox), without owners, groups,
    setuid/setgid/sticky bits, devices, FIFOs, sockets, or symlinks that leave the tree (a mailbox gets no symlink at
    all); a database dump is imported by C(mariadb) as the client's database user (O(db_user), O(db_password)), the
    process itself running as the client's user.
  - Uses the job written by M(fracto.hosting.backup_jobs) (repository, password file, SSH key, pinned host keys);
    an unknown client, snapshot, database, mailbox or path fails with a clear message before anything is written.
  - Holds the host-wide lock (C(/run/fracto/host.lock)) while it writes.
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
        a database dump is written as C(<dest>/<database>.sql) and not imported. Outside every tenant tree.
    type: path
  config_dir:
    description: Where M(fracto.hosting.backup_jobs) wrote the jobs.
    type: path
    default: /etc/fracto/backup
  owner:
    description: The client's system user on the web host (files and the database import run as it); default the client id.
    type: str
  mail_owner:
    description: The system user that owns the Maildirs (Dovecot's virtual mail user); a mailbox is copied as it.
    type: str
    default: vmail
  db_user:
    description: With O(what=database) in place, the client's own database user the dump is imported as (never root).
    type: str
  db_password:
    description: The password of O(db_user) (from the vault, through the resolved state).
    type: str
  staging_dir:
    description: The root-only area restic restores into first (0700); must be outside O(web_root) and O(vmail_home).
    type: path
    default: /var/lib/fracto/backup/restore
  web_root:
    description: The clients' homes on web hosts (a side path O(dest) must be outside it).
    type: path
    default: /srv/www
  vmail_home:
    description: The mailboxes' homes on mail hosts (a side path O(dest) must be outside it).
    type: path
    default: /var/vmail
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
import pwd
import shutil
import subprocess
import tempfile
from types import SimpleNamespace

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.fracto.hosting.plugins.module_utils.backup.restore import (
    SIDES,
    RestoreError,
    extract_argv,
    import_argv,
    locate,
    mkdir_argv,
    restic_restore_args,
    restore_plan,
    restore_problems,
    sanitize_staging,
    stream_tree,
    under,
)
from ansible_collections.fracto.hosting.plugins.module_utils.backup.runner import JobError, Restic
from ansible_collections.fracto.hosting.plugins.module_utils.lock import run_locked
from ansible_collections.fracto.hosting.plugins.module_utils.secrets import redact_url

PATH_ENV = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def module_run(module):
    """A subprocess.run stand-in for the runner's classes, on AnsibleModule.run_command."""
    def run(command, env=None, **_kwargs):
        rc, out, err = module.run_command(command, environ_update=env or {})
        return SimpleNamespace(returncode=rc, stdout=out, stderr=err)
    return run


def user_ids(name, what):
    """(uid, gid) of an unprivileged system user."""
    try:
        entry = pwd.getpwnam(name)
    except (KeyError, TypeError):
        raise RestoreError("%s %s: no such system user on this host" % (what, name))
    if entry.pw_uid == 0 or entry.pw_gid == 0:
        raise RestoreError("%s %s is privileged (uid or gid 0): refused" % (what, name))
    return entry.pw_uid, entry.pw_gid


def run_as(argv, stdin=None, env=None):
    """Run argv (argv list, no shell); (rc, stderr)."""
    # stdin is a database dump file, streamed (run_command's data= would hold the whole dump in memory).
    proc = subprocess.run(argv, stdin=stdin, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False,  # pylint: disable=ansible-bad-function
                          env=dict(env or {}, PATH=PATH_ENV, LC_ALL="C"))
    return proc.returncode, proc.stderr.decode("utf-8", "replace").strip()


def copy_as(source, arcname, uid, gid, directory, allow_symlinks):
    """Stream source (root's staging copy) into directory through tar running as uid:gid. Raises RestoreError."""
    rc, err = run_as(mkdir_argv(uid, gid, directory))
    if rc != 0:
        raise RestoreError("cannot create %s as the client: %s" % (directory, err))
    with tempfile.TemporaryFile() as errors:  # a file, not a pipe: tar's complaints never block the stream
        # The tree is streamed into tar's stdin as it is read (run_command would hold the whole archive in memory).
        proc = subprocess.Popen(extract_argv(uid, gid, directory), stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,  # pylint: disable=ansible-bad-function
                                stderr=errors, env={"PATH": PATH_ENV, "LC_ALL": "C"})
        try:
            counts = stream_tree(source, arcname, proc.stdin, allow_symlinks=allow_symlinks)
        except BrokenPipeError:
            counts = None
        finally:
            proc.stdin.close()
        failed = proc.wait() != 0 or counts is None
        errors.seek(0)
        err = errors.read().decode("utf-8", "replace").strip()
    if failed:
        raise RestoreError("copy into %s as the client failed: %s" % (directory, err[-500:]))
    return counts


def restore(module, p, job, side, plan, snapshot, restic):
    """The writing part (under the host lock). Returns extra result keys."""
    staging_root = p["staging_dir"]
    os.makedirs(staging_root, mode=0o700, exist_ok=True)
    os.chmod(staging_root, 0o700)
    work = tempfile.mkdtemp(prefix="restore-", dir=staging_root)
    try:
        restic(*restic_restore_args(snapshot["id"], work, plan["include"]))
        staged = work + plan["include"]
        removed = sanitize_staging(work)
        extra = {"left_out": removed}
        if "database" in plan:
            if p["dest"]:
                os.makedirs(p["dest"], mode=0o700, exist_ok=True)
                target = os.path.join(p["dest"], "%s.sql" % plan["database"])
                shutil.copyfile(staged, target, follow_symlinks=False)
                os.chmod(target, 0o600)
                return extra
            uid, gid = user_ids(p["owner"] or job["client"], "owner")
            if not p["db_user"] or not p["db_password"]:
                raise RestoreError("db_user and db_password: the client's own database user imports the dump (never root)")
            with open(staged, "rb") as dump:
                rc, err = run_as(import_argv(uid, gid, plan["database"], p["db_user"]), stdin=dump,
                                 env={"MYSQL_PWD": p["db_password"], "HOME": "/nonexistent"})
            if rc != 0:
                raise RestoreError("import of %s as %s failed: %s" % (plan["database"], p["db_user"], err[-500:]))
            return extra
        if p["dest"]:
            # The operator's side path (root-only): full paths below it, already sanitized in the staging copy.
            os.makedirs(p["dest"], mode=0o700, exist_ok=True)
            shutil.copytree(work, p["dest"], symlinks=True, dirs_exist_ok=True)
            return extra
        if "mailbox" in plan:
            uid, gid = user_ids(p["mail_owner"], "mail_owner")
            base = [m["home"] for m in job["mailboxes"] if m["address"] == plan["mailbox"]][0]
            directory = os.path.join(base, "Maildir")
            allow_symlinks = False  # a Maildir never holds one; Dovecot would follow it into another tenant's mail
        else:
            uid, gid = user_ids(p["owner"] or job["client"], "owner")
            directory = job["home"]
            allow_symlinks = True
        if not under(directory, plan["include"]):
            raise RestoreError("%s is not under %s" % (plan["include"], directory))
        arcname = os.path.relpath(plan["include"], directory)
        counts = copy_as(staged, arcname, uid, gid, directory, allow_symlinks)
        extra["left_out"] += counts["left_out"]
        return extra
    finally:
        shutil.rmtree(work, ignore_errors=True)


def argument_spec():
    return dict(
        reseller=dict(type="str", required=True),
        client=dict(type="str", required=True),
        what=dict(type="str", required=True, choices=["files", "database", "mailbox"]),
        name=dict(type="str"),
        path=dict(type="str"),
        folder=dict(type="str"),
        snapshot=dict(type="str", default="latest"),
        dest=dict(type="path"),
        config_dir=dict(type="path", default="/etc/fracto/backup"),
        owner=dict(type="str"),
        mail_owner=dict(type="str", default="vmail"),
        db_user=dict(type="str"),
        db_password=dict(type="str", no_log=True),
        staging_dir=dict(type="path", default="/var/lib/fracto/backup/restore"),
        web_root=dict(type="path", default="/srv/www"),
        vmail_home=dict(type="path", default="/var/vmail"),
    )


def load_job(module, p, side):
    """The job backup_jobs wrote for the client's side on this host; fails the module when there is none."""
    config = os.path.join(p["config_dir"], p["reseller"], "%s.%s.json" % (p["client"], side))
    if not os.path.exists(config):
        module.fail_json(msg="client %s has no %s backup job on this host (no %s): unknown client, or its package has no backup"
                         % (p["client"], side, config))
    with open(config) as handle:
        return json.load(handle)


def resync_mailbox(module, address):
    """Let Dovecot see restored folders and messages at once."""
    doveadm = module.get_bin_path("doveadm")
    if doveadm:
        module.run_command([doveadm, "force-resync", "-u", address, "--", "*"])


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    p = module.params
    problems = restore_problems(p)
    if problems:
        module.fail_json(msg="; ".join(problems) + "; nothing was changed")
    side = SIDES[p["what"]]
    job = load_job(module, p, side)
    restic_bin = module.get_bin_path("restic", required=True)
    restic = Restic(job, module_run(module), binary=restic_bin)
    try:
        plan = restore_plan(job, p["what"], name=p["name"], path=p["path"], folder=p["folder"])
        snapshot, found = locate(restic, job, side, plan, p["snapshot"])
    except (RestoreError, JobError, ValueError) as exc:
        module.fail_json(msg=redact_url(str(exc)))
    result = dict(changed=True, snapshot=snapshot["id"], restored=plan["label"], entries=len(found),
                  target=p["dest"] or "in place")
    if module.check_mode:
        module.exit_json(**result)

    def body():
        try:
            return restore(module, p, job, side, plan, snapshot, restic)
        except (RestoreError, JobError, ValueError, OSError) as exc:
            module.fail_json(msg=redact_url(str(exc)))

    result.update(run_locked(module, "fracto.hosting.backup_restore", body, reseller=p["reseller"]) or {})
    if "mailbox" in plan and not p["dest"]:
        resync_mailbox(module, plan["mailbox"])
    module.exit_json(**result)


if __name__ == "__main__":
    main()
