# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Per-client MariaDB databases and users: what to create or change, without a server.

The current state is read as plain data (databases, users with their password hash
and plugin, grants); the plan compares it with the wanted databases and returns the
ledger changes (no secret in them) and the SQL statements to run, each with its
arguments kept apart so that a password is only ever a bound parameter.

Tenancy (several resellers and their clients share one server):
- names are whitelisted and namespaced: a database and its user are 1-64 / 1-32 of a-z, 0-9 and '_', start
  with the client's prefix (its id with '-' as '_', then '_'), and are never a system schema or a reserved
  account; identifiers are quoted (backticks doubled), the user a quoted string, and the database name of a
  GRANT has its LIKE wildcards ('_', '%') escaped, since MariaDB reads them as patterns there (a grant on
  `a_b` would also open `aab`);
- every database and user the platform makes is recorded with its reseller and client (a root-only JSON file);
  an existing database or user that is not recorded as this client's is never altered, granted or dropped,
  unless the caller proves it already holds it: the user's stored hash is that of the password given, and the
  database is one that user already has a grant on (what an earlier version of the platform made). A user
  of the same name at another host than localhost is never touched.
"""

from __future__ import annotations

import hashlib
import json
import re

from ansible_collections.fracto.hosting.plugins.module_utils import argguard as g

DB_NAME = re.compile(r"[a-z0-9_]{1,64}")
DB_USER = re.compile(r"[a-z0-9_]{1,32}")
IDENT = DB_NAME
NATIVE = "mysql_native_password"
SYSTEM_SCHEMAS = frozenset(("mysql", "information_schema", "performance_schema", "sys", "test"))
RESERVED_DB_USERS = frozenset(("root", "mysql", "mariadb.sys", "debian-sys-maint", "mysql.sys", "mysql.session",
                               "mysql.infoschema", "PUBLIC", "healthcheck", "replication", "backup", "admin"))
OWNERS = "/var/lib/fracto/mariadb/owners.json"


class Refused(g.Refused):
    """A database or user refused by the whitelists or the ownership record."""


def native_hash(password):
    """The mysql_native_password hash MariaDB stores for a password: '*' + SHA1(SHA1(pw)) in hex."""
    inner = hashlib.sha1(password.encode("utf-8")).digest()  # noqa: S324 - the format MariaDB uses
    return "*" + hashlib.sha1(inner).hexdigest().upper()  # noqa: S324


def quote_ident(name):
    """A database name as a quoted identifier: whitelisted, and backticks doubled all the same."""
    if not isinstance(name, str) or not IDENT.fullmatch(name):
        raise ValueError("not a valid database or user name: %r" % (name,))
    return "`%s`" % name.replace("`", "``")


def grant_pattern(name):
    """The database of a GRANT as a quoted identifier with its LIKE wildcards escaped (`c1\\_wp`)."""
    quote_ident(name)
    return "`%s`" % name.replace("\\", "\\\\").replace("_", "\\_").replace("%", "\\%")


def quote_account(user):
    """'user'@'localhost' as a string literal: whitelisted, and quotes and backslashes escaped all the same."""
    if not isinstance(user, str) or not DB_USER.fullmatch(user):
        raise ValueError("not a valid database user name: %r" % (user,))
    return "'%s'@'localhost'" % user.replace("\\", "\\\\").replace("'", "''")


def prefix_of(client):
    return client.replace("-", "_") + "_"


def check_wanted(wanted, reseller=None):
    """Refuse (Refused naming the option and the rule) a database entry that breaks a whitelist."""
    g.reseller("reseller", reseller, required=False)
    claimed = {}
    for i, db in enumerate(wanted):
        at = "databases[%d]" % i
        client = g.client_id(at + ".client", db.get("client"))
        name = g.want(at + ".name", db.get("name"), DB_NAME, "a database name is 1-64 of a-z, 0-9 and '_'")
        user = g.want(at + ".user", db.get("user"), DB_USER, "a database user is 1-32 of a-z, 0-9 and '_'")
        if name in SYSTEM_SCHEMAS:
            raise Refused(at + ".name", "a system schema (mysql, information_schema, performance_schema, sys) is never a client's", name)
        if user in RESERVED_DB_USERS:
            raise Refused(at + ".user", "a reserved account (root, mysql, mariadb.sys, debian-sys-maint, ...) is never a client's", user)
        prefix = prefix_of(client)
        for key, value in (("name", name), ("user", user)):
            if not value.startswith(prefix) or value == prefix:
                raise Refused("%s.%s" % (at, key), "the names of client %s's databases and users start with %s" % (client, prefix), value)
            if claimed.setdefault((key, value), client) != client:
                raise Refused("%s.%s" % (at, key), "a database or user belongs to one client (also given for %s)" % claimed[(key, value)], value)


def _owner(reseller, client):
    return {"reseller": reseller, "client": client}


def ownership_problems(wanted, current, owners, reseller=None):
    """Lines saying which wanted database or user this client may not take; [] when every one is its own.

    owners: {"databases": {name: {reseller, client}}, "users": {user: {reseller, client}}} (the record).
    """
    problems = []
    for db in sorted(wanted, key=lambda d: d["name"]):
        name, user, client = db["name"], db["user"], db["client"]
        mine = _owner(reseller, client)
        db_owner, user_owner = owners["databases"].get(name), owners["users"].get(user)
        if user in current.get("elsewhere", set()):
            problems.append("database user %s exists at another host than localhost: not the platform's" % user)
        if user_owner is not None and user_owner != mine:
            problems.append("database user %s belongs to client %s of reseller %s" % (user, user_owner["client"], user_owner["reseller"]))
        if db_owner is not None and db_owner != mine:
            problems.append("database %s belongs to client %s of reseller %s" % (name, db_owner["client"], db_owner["reseller"]))
        existing = current["users"].get(user)
        proven = existing is not None and existing == (NATIVE, native_hash(db["password"]))
        if user_owner is None and existing is not None and not proven:
            problems.append("database user %s exists and is not recorded as client %s's" % (user, client))
        if db_owner is None and name in current["databases"] and not (proven and _granted(current, name, user)):
            problems.append("database %s exists and is not recorded as client %s's" % (name, client))
    return problems


def _granted(current, name, user):
    return (grant_pattern(name)[1:-1], user) in current["grants"] or (name, user) in current["grants"]


def plan_databases(wanted, current):
    """Return (changes, statements).

    wanted:  [{name, user, password, client}] (checked by check_wanted, owned per ownership_problems)
    current: {"databases": set of names, "users": {user: (plugin, authentication_string)},
              "grants": set of (database as mysql.db holds it, user)}
    statements: [(sql, args)] to run in order; args is a tuple (the password only).
    """
    changes, statements = [], []
    for db in sorted(wanted, key=lambda d: d["name"]):
        name, user, client = db["name"], db["user"], db["client"]
        detail = []
        created = name not in current["databases"]
        if created:
            statements.append(("CREATE DATABASE %s CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci" % quote_ident(name), ()))
        account = quote_account(user)
        existing = current["users"].get(user)
        if existing is None:
            statements.append(("CREATE USER %s IDENTIFIED BY %%s" % account, (db["password"],)))
            detail.append("user %s" % user)
        elif existing != (NATIVE, native_hash(db["password"])):
            # The hash is compared, never the password: the change says only that it changed.
            statements.append(("ALTER USER %s IDENTIFIED BY %%s" % account, (db["password"],)))
            detail.append("password of %s changed" % user)
        pattern = grant_pattern(name)
        if pattern[1:-1] != name and (name, user) in current["grants"]:
            # A grant made before the wildcards were escaped: it matched other databases too.
            statements.append(("REVOKE ALL PRIVILEGES ON %s.* FROM %s" % (quote_ident(name), account), ()))
            detail.append("grant to %s narrowed to %s only" % (user, name))
        if (pattern[1:-1], user) not in current["grants"]:
            statements.append(("GRANT ALL PRIVILEGES ON %s.* TO %s" % (pattern, account), ()))
            if (existing is not None or not created) and (name, user) not in current["grants"]:
                detail.append("+ grant to %s" % user)
        if created:
            changes.append({"action": "create", "kind": "database", "id": name, "client": client, "detail": detail})
        elif detail:
            changes.append({"action": "change", "kind": "database", "id": name, "client": client, "detail": detail})
    return changes, statements


def record_owners(owners, wanted, reseller=None):
    """The ownership record with every wanted database and user as its client's (a new dict)."""
    record = {"databases": dict(owners["databases"]), "users": dict(owners["users"])}
    for db in wanted:
        record["databases"][db["name"]] = _owner(reseller, db["client"])
        record["users"][db["user"]] = _owner(reseller, db["client"])
    return record


def parse_owners(text):
    """The record from its JSON text (None or empty: no record yet); ValueError when it is not one."""
    if not text:
        return empty_owners()
    data = json.loads(text)
    if not isinstance(data, dict) or not isinstance(data.get("databases", {}), dict) or not isinstance(data.get("users", {}), dict):
        raise ValueError("not an ownership record")
    return {"databases": data.get("databases", {}), "users": data.get("users", {})}


def render_owners(owners):
    return json.dumps(owners, indent=2, sort_keys=True) + "\n"


def empty_owners():
    return {"databases": {}, "users": {}}


def read_current(cursor):
    """The current state from a DB-API cursor connected as root."""
    cursor.execute("SHOW DATABASES")
    databases = {row[0] for row in cursor.fetchall()}
    cursor.execute("SELECT User, Host, plugin, authentication_string FROM mysql.user")
    users, elsewhere = {}, set()
    for user, host, plugin, auth in cursor.fetchall():
        if host == "localhost":
            users[user] = (plugin, auth)
        else:
            elsewhere.add(user)
    cursor.execute("SELECT Db, User FROM mysql.db WHERE Host = 'localhost'")
    grants = {(row[0], row[1]) for row in cursor.fetchall()}
    return {"databases": databases, "users": users, "grants": grants, "elsewhere": elsewhere}


def empty_current():
    return {"databases": set(), "users": {}, "grants": set(), "elsewhere": set()}
