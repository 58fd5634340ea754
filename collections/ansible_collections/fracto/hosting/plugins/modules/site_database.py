#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: site_database
short_description: Copy a site's database from the old host (consistent dump over SSH, import as the client's user)
version_added: 1.0.0
description:
  - Runs on the host that receives the site. Dumps O(source_database) on the old host over SSH with the migration key
    O(key), restricted there to that one C(mysqldump --single-transaction) (one consistent snapshot, the source keeps
    serving and is only read), into a staging area readable by root only.
  - The dump is hostile content. It is imported into O(target_database) by the C(mysql) client running as the
    client's system user O(run_as) and logged in as the client's database user O(target_user), never as the
    database's root - C(USE) of another database, C(CREATE DATABASE), C(GRANT), accounts, files of the server are
    refused by the server; C(--binary-mode) keeps the client from running commands found in the dump (C(\\!),
    C(system), C(source), C(tee)) and C(--local-infile=0) from sending a local file. Statements of that kind are
    reported in RV(findings); an import they break fails with them named.
  - The password is passed in an option file readable by O(run_as) only, never on a command line, and removed
    afterwards.
  - 'Idempotent: the SHA-256 of the dump (taken without dates or comments, so equal data gives an equal dump) is
    recorded under O(state_dir) after each import. A run imports only when the target database is empty, was never
    imported, or the source changed since the last import; otherwise nothing is written.'
  - C(DEFINER) clauses of the old host's users are dropped, so views, triggers and routines belong to the new user.
  - Holds the host's writer lock while it runs.
extends_documentation_fragment:
  - fracto.hosting.migrate.ssh
  - fracto.hosting.migrate
options:
  source_database:
    description: The database on the old host.
    type: str
    required: true
  target_database:
    description: The client's database on this host (M(fracto.hosting.mariadb_databases) created it).
    type: str
    required: true
  target_user:
    description: The client's database user.
    type: str
    required: true
  target_password:
    description: The password of O(target_user).
    type: str
    required: true
  run_as:
    description: The client's system user; the C(mysql) client that imports the dump runs as this user.
    type: str
    required: true
  state_dir:
    description: Where the dump is staged (mode 0700, root's) and the checksum of the last import recorded.
    type: path
    default: /var/lib/fracto/migrate
attributes:
  check_mode:
    support: full
    description: Dumps the source to compute its checksum (streamed, nothing written) and says whether it would import.
  diff_mode:
    support: none
    description: A database has no readable diff; the reason of an import is returned.
  platform:
    support: full
    platforms: posix
    description: Debian 12 hosts of the platform, with MariaDB's client, ssh and runuser.
author:
  - fracto.hosting founding engineers (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Copy the site's database
  fracto.hosting.site_database:
    source: root@legacy01.fracto.test
    key: /var/lib/fracto-migrate/cliente1.database
    known_hosts: /var/lib/fracto-migrate/known_hosts
    source_database: cliente1_db
    target_database: cliente1_db
    target_user: cliente1_db
    target_password: "{{ vault_cliente1_db_password }}"
    run_as: cliente1
    client: cliente1
"""

RETURN = r"""
imported:
  description: Whether the dump was imported (or would be, in check mode).
  returned: always
  type: bool
reason:
  description: Why it was imported, or why not.
  returned: always
  type: str
source_bytes:
  description: Size of the dump.
  returned: always
  type: int
checksum:
  description: SHA-256 of the dump.
  returned: always
  type: str
findings:
  description: Statements of the dump that reach beyond the client's database (line and start, quoted values masked).
  returned: always
  type: list
  elements: str
changes:
  description: The ledger entry of the import (none when nothing was imported).
  returned: always
  type: list
  elements: dict
"""

import os
import shutil
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.fracto.hosting.plugins.module_utils.migrate.dbcopy import (
    clean_dump,
    defaults_file,
    dump_command,
    import_argv,
    import_reason,
    run_import,
    stream_dump,
)
from ansible_collections.fracto.hosting.plugins.module_utils.migrate.step import (
    InvalidValue,
    client_account,
    migrate_argument_spec,
    remote_argv,
    run_step,
)

CHECKED = ("client", "source", "key", "known_hosts", "source_database", "target_database", "target_user", "run_as", "state_dir")
# The option file is made here: root's, traversable, not listable; the file in it is the client's, mode 0400.
OPTIONS_ROOT = "/run"


def target_tables(module, database):
    """Tables of the target database (root reads the catalogue; the name is whitelisted and passed as data)."""
    rc, out, err = module.run_command(["mysql", "--batch", "--skip-column-names", "-e",
                                       "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = '%s'" % database])
    if rc != 0:
        if module.check_mode:
            return 0
        module.fail_json(msg="cannot read the target database %s: %s" % (database, (err or out).strip()))
    return int(out.split()[0])


def options_file(user, password, uid, gid, root=OPTIONS_ROOT):
    """(directory, path) of the mysql option file of the import: made by root in a new directory of its own (no
    path the client controls), given to the client (0400) so that the mysql running as the client reads it."""
    content = defaults_file(user, password).encode("utf-8")  # refuses a control character before anything is made
    directory = tempfile.mkdtemp(prefix="fracto-migrate-", dir=root)
    os.chmod(directory, 0o711)
    path = os.path.join(directory, "my.cnf")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        os.write(fd, content)
        os.fchown(fd, uid, gid)
        os.fchmod(fd, 0o400)
    finally:
        os.close(fd)
    return directory, path


def copy(module):
    p = module.params
    try:
        uid, gid, _home = client_account(p["run_as"])
    except InvalidValue as exc:
        module.fail_json(msg=str(exc).replace("owner:", "run_as:"))
    check = module.check_mode
    remote = remote_argv(p, dump_command(p["source_database"]))
    record = os.path.join(p["state_dir"], "%s.sha256" % p["target_database"])
    staged = options_dir = None
    try:
        if check:
            # Streamed into the hash: nothing is written on this host.
            rc, err, checksum, size = stream_dump(remote, None)
        else:
            os.makedirs(p["state_dir"], mode=0o700, exist_ok=True)
            os.chmod(p["state_dir"], 0o700)
            fd, staged = tempfile.mkstemp(prefix=".dump-", suffix=".sql", dir=p["state_dir"])
            with os.fdopen(fd, "wb") as sink:
                rc, err, checksum, size = stream_dump(remote, sink)
        if rc != 0:
            module.fail_json(msg="the dump of %s on %s failed (rc %d): %s" % (p["source_database"], p["source"], rc, err.strip()[-2000:]))
        try:
            with open(record, encoding="utf-8") as stored:
                recorded = stored.read().strip()
        except OSError:
            recorded = None
        reason = import_reason(target_tables(module, p["target_database"]), recorded, checksum)
        result = dict(changed=reason is not None, imported=reason is not None, source_bytes=size, checksum=checksum,
                      reason=reason or "unchanged since the last import", changes=[], findings=[])
        if reason:
            detail = "import %s:%s as %s: %s" % (p["source"], p["source_database"], p["target_user"], reason)
            result["changes"] = [{"action": "change", "kind": "site_database", "id": p["target_database"], "client": p["client"],
                                  "detail": [detail]}]
        if reason and not check:
            cleaned = staged + ".import"
            with open(staged, "rb") as raw, open(cleaned, "wb") as out_file:
                result["findings"] = clean_dump(raw, out_file)
            os.replace(cleaned, staged)
            try:
                options_dir, options = options_file(p["target_user"], p["target_password"], uid, gid)
            except ValueError as exc:
                module.fail_json(msg="target_password/target_user: %s" % exc)
            rc, err = run_import(import_argv(p["run_as"], options, p["target_database"]), staged)
            if rc != 0:
                beyond = ("; the dump reaches beyond the client's database (refused, reported as findings): %s"
                          % " | ".join(result["findings"])) if result["findings"] else ""
                module.fail_json(msg="the import into %s as %s failed: %s%s" % (p["target_database"], p["target_user"], err.strip()[-2000:],
                                                                                beyond), findings=result["findings"])
            with open(record, "w", encoding="utf-8") as stored:
                stored.write(checksum + "\n")
        return result
    finally:
        for path in (staged, staged and staged + ".import"):
            if path and os.path.exists(path):
                os.unlink(path)
        if options_dir:
            shutil.rmtree(options_dir, ignore_errors=True)


def main():
    module = AnsibleModule(
        argument_spec=migrate_argument_spec(ssh=True, client=True, options=dict(
            source_database=dict(type="str", required=True),
            target_database=dict(type="str", required=True),
            target_user=dict(type="str", required=True),
            target_password=dict(type="str", required=True, no_log=True),
            run_as=dict(type="str", required=True),
            state_dir=dict(type="path", default="/var/lib/fracto/migrate"),
        )),
        supports_check_mode=True,
    )
    run_step(module, CHECKED, "site_database", copy)


if __name__ == "__main__":
    main()
