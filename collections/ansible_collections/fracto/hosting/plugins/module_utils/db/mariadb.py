# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Per-client MariaDB databases and users: what to create or change, without a server.

The current state is read as plain data (databases, users with their password hash
and plugin, grants); the plan compares it with the wanted databases and returns the
ledger changes (no secret in them) and the SQL statements to run, each with its
arguments kept apart so that a password is only ever a bound parameter.
"""

from __future__ import annotations

import hashlib
import re

IDENT = re.compile(r"^[a-z0-9_]{1,64}$")
NATIVE = "mysql_native_password"


def native_hash(password):
    """The mysql_native_password hash MariaDB stores for a password: '*' + SHA1(SHA1(pw)) in hex."""
    inner = hashlib.sha1(password.encode("utf-8")).digest()  # noqa: S324 - the format MariaDB uses
    return "*" + hashlib.sha1(inner).hexdigest().upper()  # noqa: S324


def quote_ident(name):
    if not IDENT.match(name):
        raise ValueError("not a valid database or user name: %r" % name)
    return "`%s`" % name


def plan_databases(wanted, current):
    """Return (changes, statements).

    wanted:  [{name, user, password, client}]
    current: {"databases": set of names, "users": {user: (plugin, authentication_string)},
              "grants": set of (database, user)}
    statements: [(sql, args)] to run in order; args is a tuple (the password only).
    """
    changes, statements = [], []
    for db in sorted(wanted, key=lambda d: d["name"]):
        name, user, client = db["name"], db["user"], db["client"]
        detail = []
        created = name not in current["databases"]
        if created:
            statements.append(("CREATE DATABASE %s CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci" % quote_ident(name), ()))
        account = "%s@'localhost'" % quote_ident(user).replace("`", "'")
        existing = current["users"].get(user)
        if existing is None:
            statements.append(("CREATE USER %s IDENTIFIED BY %%s" % account, (db["password"],)))
            detail.append("user %s" % user)
        elif existing != (NATIVE, native_hash(db["password"])):
            # The hash is compared, never the password: the change says only that it changed.
            statements.append(("ALTER USER %s IDENTIFIED BY %%s" % account, (db["password"],)))
            detail.append("password of %s changed" % user)
        if (name, user) not in current["grants"]:
            statements.append(("GRANT ALL PRIVILEGES ON %s.* TO %s" % (quote_ident(name), account), ()))
            if existing is not None or not created:
                detail.append("+ grant to %s" % user)
        if created:
            changes.append({"action": "create", "kind": "database", "id": name, "client": client, "detail": detail})
        elif detail:
            changes.append({"action": "change", "kind": "database", "id": name, "client": client, "detail": detail})
    return changes, statements


def read_current(cursor):
    """The current state from a DB-API cursor connected as root."""
    cursor.execute("SHOW DATABASES")
    databases = {row[0] for row in cursor.fetchall()}
    cursor.execute("SELECT User, plugin, authentication_string FROM mysql.user WHERE Host = 'localhost'")
    users = {row[0]: (row[1], row[2]) for row in cursor.fetchall()}
    cursor.execute("SELECT Db, User FROM mysql.db WHERE Host = 'localhost'")
    grants = {(row[0].replace("\\_", "_"), row[1]) for row in cursor.fetchall()}
    return {"databases": databases, "users": users, "grants": grants}


def empty_current():
    return {"databases": set(), "users": {}, "grants": set()}
