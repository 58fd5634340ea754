#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: mariadb_databases
short_description: Converge every client database and database user of a host in one call
version_added: 1.0.0
description:
  - Takes the C(databases) of the host's desired state (C(fracto.hosting.client_state) with C(resolve=true)) and
    converges, in one call, one MariaDB database per entry (utf8mb4), its user at C(localhost) and the user's
    privileges on that database.
  - Connects as C(root) over the unix socket (Debian's C(unix_socket) authentication) with PyMySQL
    (Debian's C(python3-pymysql)).
  - A password is never printed. It is compared through the hash MariaDB stores (C(mysql_native_password)), so a
    changed password is detected and reported as C(password of <user> changed) without showing either value.
  - Databases are never dropped; those of clients that left the state stay until an operator archives them.
  - Tenancy. A database and its user carry the client's prefix (its id with C(-) as C(_), then C(_)), are never a
    system schema (C(mysql), C(information_schema), C(performance_schema), C(sys)) or a reserved account (C(root),
    C(mysql), C(mariadb.sys), C(debian-sys-maint), ...), and are recorded with their reseller and client in
    O(owners). A database or user that exists and is not recorded as this client's is refused (nothing is changed)
    unless the user's stored hash is that of the password given and the database one it already has a grant on
    (objects of an earlier version of the platform, then recorded). A user of the same name at another host than
    C(localhost) is refused. Grants name their database with its LIKE wildcards escaped.
  - The changes run under the host-wide lock of the platform's writer modules.
options:
  databases:
    description:
      - The databases, as C(fracto_state.hosts[host].databases) without the passwords; each C({name, user, client}).
    type: list
    elements: dict
    required: true
  passwords:
    description:
      - The password of each database's user, by database name. Kept apart from O(databases) so that only the
        passwords are secret (a secret list of dicts would hide every name in the output).
    type: dict
    required: true
  login_unix_socket:
    description: The server's unix socket.
    type: path
    default: /run/mysqld/mysqld.sock
  reseller:
    description: The reseller whose clients' databases these are (recorded in O(owners)).
    type: str
  owners:
    description: The record of which reseller and client own each database and database user on this host (root only).
    type: path
    default: /var/lib/fracto/mariadb/owners.json
attributes:
  check_mode:
    support: full
    description: Reads the server and reports every change it would make; changes nothing.
  diff_mode:
    support: full
    description: The databases and their users before and after, one line each; a password change shows as a marker, never a value.
  platform:
    support: full
    platforms: posix
    description: Debian 12 hosts of the platform.
requirements:
  - PyMySQL on the managed host (Debian's C(python3-pymysql))
author:
  - fracto.hosting founding engineers (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Converge the clients' databases and users of this host
  fracto.hosting.mariadb_databases:
    databases: >-
      {{ fracto_state.hosts[inventory_hostname].databases | map('dict2items') | map('rejectattr', 'key', 'equalto', 'password')
         | map('items2dict') | list }}
    passwords: "{{ fracto_state.hosts[inventory_hostname].databases | items2dict(key_name='name', value_name='password') }}"
"""

RETURN = r"""
changes:
  description: One entry per database created or changed (user, password, grant), in the ledger format; no secret.
  returned: always
  type: list
  elements: dict
"""

import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.fracto.hosting.plugins.module_utils.argguard import Refused
from ansible_collections.fracto.hosting.plugins.module_utils.db.mariadb import (
    OWNERS,
    check_wanted,
    empty_current,
    ownership_problems,
    parse_owners,
    plan_databases,
    read_current,
    record_owners,
    render_owners,
)
from ansible_collections.fracto.hosting.plugins.module_utils.files import read_text, write_atomic
from ansible_collections.fracto.hosting.plugins.module_utils.lock import run_locked

try:
    import pymysql
except ImportError:
    pymysql = None
    PYMYSQL_ERROR = traceback.format_exc()
else:
    PYMYSQL_ERROR = None


def converge(module, wanted, reseller):
    """Read the server and the ownership record, refuse what is not this client's, apply; returns the changes."""
    owners_path = module.params["owners"]
    try:
        owners = parse_owners(read_text(owners_path))
    except (OSError, ValueError) as exc:
        module.fail_json(msg="cannot read the ownership record %s: %s; nothing was changed" % (owners_path, exc))
    try:
        connection = pymysql.connect(unix_socket=module.params["login_unix_socket"], user="root", autocommit=True)
    except pymysql.MySQLError as exc:
        if module.check_mode:
            changes, _statements = plan_databases(wanted, empty_current())
            return changes
        module.fail_json(msg="cannot connect to MariaDB as root over %s: %s" % (module.params["login_unix_socket"], exc))
    with connection:
        with connection.cursor() as cursor:
            current = read_current(cursor)
            problems = ownership_problems(wanted, current, owners, reseller)
            if problems:
                module.fail_json(msg="refused, nothing was changed: %s" % "; ".join(problems), changes=[])
            changes, statements = plan_databases(wanted, current)
            if not module.check_mode:
                record = record_owners(owners, wanted, reseller)
                if record != owners:  # recorded first: what is made below is never left unrecorded
                    write_atomic(owners_path, render_owners(record), mode=0o600, makedirs=True, dir_mode=0o700)
                for sql, args in statements:
                    try:
                        cursor.execute(sql, args or None)
                    except pymysql.MySQLError as exc:
                        # The statement text holds no secret (the password is a bound parameter).
                        module.fail_json(msg="MariaDB refused %s: %s" % (sql.replace("%s", "***"), exc.args[-1]), changes=[])
    return changes


def main():
    module = AnsibleModule(
        argument_spec=dict(
            databases=dict(type="list", elements="dict", required=True),
            passwords=dict(type="dict", required=True, no_log=True),
            login_unix_socket=dict(type="path", default="/run/mysqld/mysqld.sock"),
            reseller=dict(type="str"),
            owners=dict(type="path", default=OWNERS),
        ),
        supports_check_mode=True,
    )
    wanted = []
    for db in module.params["databases"]:
        if "password" in db:
            module.fail_json(msg="database %s: pass its password in passwords, never in databases" % db.get("name", "?"))
        missing = [k for k in ("name", "user", "client") if not db.get(k)]
        if missing:
            module.fail_json(msg="database %s: missing %s" % (db.get("name", "?"), ", ".join(missing)))
        password = module.params["passwords"].get(db["name"])
        if not isinstance(password, str) or not password:
            module.fail_json(msg="database %s: no password in passwords" % db["name"])
        wanted.append(dict(db, password=password))
    reseller = module.params["reseller"]
    try:
        check_wanted(wanted, reseller)
    except Refused as exc:
        module.fail_json(msg="%s; nothing was changed" % exc)
    if not wanted:
        module.exit_json(changed=False, changes=[])
    if pymysql is None:
        if module.check_mode:  # the first plan of a host: nothing installed yet, everything would be created
            changes, _statements = plan_databases(wanted, empty_current())
            module.exit_json(changed=bool(changes), changes=changes)
        module.fail_json(msg=missing_required_lib("PyMySQL (python3-pymysql)"), exception=PYMYSQL_ERROR)
    if module.check_mode:
        changes = converge(module, wanted, reseller)
    else:
        changes = run_locked(module, "fracto.hosting.mariadb_databases", lambda: converge(module, wanted, reseller), reseller)
    result = dict(changed=bool(changes), changes=changes)
    if module._diff:
        result["diff"] = dict(before="".join("%s %s\n" % (c["kind"], c["id"]) for c in changes if c["action"] != "create"),
                              after="".join("%s %s: %s\n" % (c["kind"], c["id"], ", ".join(c["detail"])) for c in changes))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
