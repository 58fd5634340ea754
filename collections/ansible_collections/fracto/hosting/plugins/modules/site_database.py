#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: site_database
short_description: Copy a site's database from the old host (consistent dump over SSH, import with the new credentials)
version_added: 1.0.0
description:
  - Runs on the host that receives the site. Dumps O(source_database) on the old host over SSH (as the user of
    O(source), root over the unix socket) with C(mysqldump --single-transaction) (one consistent snapshot, the
    source keeps serving and is only read), and imports it into O(target_database) as the client's new user
    O(target_user) (the password is passed in an option file readable by root only, never on a command line, and
    removed afterwards).
  - 'Idempotent: the SHA-256 of the dump (taken without dates or comments, so equal data gives an equal dump) is
    recorded under O(state_dir) after each import. A run imports only when the target database is empty, was never
    imported, or the source changed since the last import; otherwise nothing is written.'
  - C(DEFINER) clauses of the old host's users are dropped, so views, triggers and routines belong to the new user.
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
  state_dir:
    description: Where the dump is staged (mode 0700) and the checksum of the last import recorded.
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
    description: Debian 12 hosts of the platform, with MariaDB's client and ssh.
author:
  - fracto.hosting founding engineers (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Copy the site's database
  fracto.hosting.site_database:
    source: root@legacy01.fracto.test
    key: /root/.ssh/fracto-migrate
    known_hosts: /root/.ssh/fracto-migrate.known_hosts
    source_database: cliente1_db
    target_database: cliente1_db
    target_user: cliente1_db
    target_password: "{{ vault_cliente1_db_password }}"
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
changes:
  description: The ledger entry of the import (none when nothing was imported).
  returned: always
  type: list
  elements: dict
"""

import hashlib
import os
import shlex
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.fracto.hosting.plugins.module_utils.migrate.dbcopy import defaults_file, dump_command, import_reason, strip_definer
from ansible_collections.fracto.hosting.plugins.module_utils.migrate.step import migrate_argument_spec, remote_shell


def target_tables(module, database):
    rc, out, err = module.run_command(["mysql", "--batch", "--skip-column-names", "-e",
                                       "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = '%s'" % database])
    if rc != 0:
        if module.check_mode:
            return 0
        module.fail_json(msg="cannot read the target database %s as root: %s" % (database, (err or out).strip()))
    return int(out.split()[0])


def file_digest(path):
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1024 * 1024), b""):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def main():
    module = AnsibleModule(
        argument_spec=migrate_argument_spec(ssh=True, client=True, options=dict(
            source_database=dict(type="str", required=True),
            target_database=dict(type="str", required=True),
            target_user=dict(type="str", required=True),
            target_password=dict(type="str", required=True, no_log=True),
            state_dir=dict(type="path", default="/var/lib/fracto/migrate"),
        )),
        supports_check_mode=True,
    )
    p = module.params
    for field in ("source_database", "target_database", "target_user"):
        if not p[field].replace("_", "").replace("-", "").replace("$", "").isalnum():
            module.fail_json(msg="%s: not a plain database name: %s" % (field, p[field]))
    check = module.check_mode
    remote = remote_shell(p, dump_command(p["source_database"]))
    record = os.path.join(p["state_dir"], "%s.sha256" % p["target_database"])
    staged = options = None
    try:
        if check:
            # Streamed into the hash: nothing is written on this host.
            rc, out, err = module.run_command("set -o pipefail; %s | sha256sum; exit ${PIPESTATUS[0]}" % remote, use_unsafe_shell=True,
                                              executable="/bin/bash")
            checksum, size = (out.split() or [""])[0], None
        else:
            os.makedirs(p["state_dir"], mode=0o700, exist_ok=True)
            fd, staged = tempfile.mkstemp(prefix=".dump-", suffix=".sql", dir=p["state_dir"])
            os.close(fd)
            rc, out, err = module.run_command("%s > %s" % (remote, shlex.quote(staged)), use_unsafe_shell=True)
        if rc != 0:
            module.fail_json(msg="the dump of %s on %s failed (rc %d): %s"
                             % (p["source_database"], p["source"], rc, (err or out).strip()[-2000:]))
        if not check:
            checksum, size = file_digest(staged)
        try:
            with open(record, encoding="utf-8") as stored:
                recorded = stored.read().strip()
        except OSError:
            recorded = None
        reason = import_reason(target_tables(module, p["target_database"]), recorded, checksum)
        result = dict(changed=reason is not None, imported=reason is not None, source_bytes=size, checksum=checksum,
                      reason=reason or "unchanged since the last import", changes=[])
        if reason:
            detail = "import %s:%s as %s: %s" % (p["source"], p["source_database"], p["target_user"], reason)
            result["changes"] = [{"action": "change", "kind": "site_database", "id": p["target_database"], "client": p["client"],
                                  "detail": [detail]}]
        if reason and not check:
            fd, options = tempfile.mkstemp(prefix=".my-", suffix=".cnf", dir=p["state_dir"])
            with os.fdopen(fd, "w", encoding="utf-8") as opt:
                opt.write(defaults_file(p["target_user"], p["target_password"]))
            cleaned = staged + ".import"
            with open(staged, "rb") as raw, open(cleaned, "wb") as out_file:
                for line in raw:
                    out_file.write(strip_definer(line))
            os.replace(cleaned, staged)
            rc, out, err = module.run_command("mysql --defaults-extra-file=%s -- %s < %s"
                                              % (shlex.quote(options), shlex.quote(p["target_database"]), shlex.quote(staged)),
                                              use_unsafe_shell=True)
            if rc != 0:
                module.fail_json(msg="the import into %s as %s failed: %s" % (p["target_database"], p["target_user"], (err or out).strip()[-2000:]))
            with open(record, "w", encoding="utf-8") as stored:
                stored.write(checksum + "\n")
        module.exit_json(**result)
    finally:
        for path in (staged, options):
            if path and os.path.exists(path):
                os.unlink(path)


if __name__ == "__main__":
    main()
