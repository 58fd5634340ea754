# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Planning of the clients' MariaDB databases and users (module_utils/db/mariadb.py), without a server."""

from __future__ import annotations

import hashlib

import pytest
from ansible_collections.fracto.hosting.plugins.module_utils.argguard import Refused
from ansible_collections.fracto.hosting.plugins.module_utils.db.mariadb import (
    NATIVE,
    check_wanted,
    empty_current,
    grant_pattern,
    native_hash,
    ownership_problems,
    parse_owners,
    plan_databases,
    quote_account,
    quote_ident,
    read_current,
    record_owners,
    render_owners,
)

SECRET = "db-UNIT-SECRET-1"
WANTED = [{"name": "c1_wp", "user": "c1_wp", "password": SECRET, "client": "c1"}]


def test_native_hash_is_mariadbs():
    # PASSWORD('password') in MariaDB
    assert native_hash("password") == "*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19"
    assert native_hash(SECRET) == "*" + hashlib.sha1(hashlib.sha1(SECRET.encode()).digest()).hexdigest().upper()


def test_everything_created_on_an_empty_server_and_password_only_bound():
    changes, statements = plan_databases(WANTED, empty_current())
    assert changes == [{"action": "create", "kind": "database", "id": "c1_wp", "client": "c1", "detail": ["user c1_wp"]}]
    sql = [s for s, _a in statements]
    assert sql[0].startswith("CREATE DATABASE `c1_wp`") and sql[1] == "CREATE USER 'c1_wp'@'localhost' IDENTIFIED BY %s"
    assert sql[2] == "GRANT ALL PRIVILEGES ON `c1\\_wp`.* TO 'c1_wp'@'localhost'"  # '_' is a LIKE wildcard in GRANT
    assert statements[1][1] == (SECRET,)
    assert SECRET not in repr(changes) and all(SECRET not in s for s in sql)


GRANTED = {("c1\\_wp", "c1_wp")}  # as mysql.db holds the escaped grant


def test_converged_server_has_nothing_to_do():
    current = {"databases": {"c1_wp"}, "users": {"c1_wp": (NATIVE, native_hash(SECRET))}, "grants": GRANTED}
    assert plan_databases(WANTED, current) == ([], [])


def test_password_change_detected_without_printing_it():
    current = {"databases": {"c1_wp"}, "users": {"c1_wp": (NATIVE, native_hash("old-password-1"))}, "grants": GRANTED}
    changes, statements = plan_databases(WANTED, current)
    assert changes == [{"action": "change", "kind": "database", "id": "c1_wp", "client": "c1", "detail": ["password of c1_wp changed"]}]
    assert statements == [("ALTER USER 'c1_wp'@'localhost' IDENTIFIED BY %s", (SECRET,))]
    assert SECRET not in repr(changes) and "old-password" not in repr(changes)


def test_socket_authenticated_user_gets_a_password_and_missing_grant_is_added():
    current = {"databases": {"c1_wp"}, "users": {"c1_wp": ("unix_socket", "")}, "grants": set()}
    changes, _statements = plan_databases(WANTED, current)
    assert changes[0]["detail"] == ["password of c1_wp changed", "+ grant to c1_wp"]


def test_identifiers_are_refused_unless_plain():
    with pytest.raises(ValueError):
        quote_ident("c1`; DROP DATABASE x; --")


class Cursor:
    def __init__(self, answers):
        self.answers, self.rows = list(answers), None

    def execute(self, sql, args=None):
        self.rows = self.answers.pop(0)

    def fetchall(self):
        return self.rows


def test_read_current_keeps_grants_as_mysql_holds_them_and_sees_users_at_other_hosts():
    current = read_current(Cursor([[("c1_wp",), ("mysql",)], [("c1_wp", "localhost", NATIVE, "*AB"), ("c1_x", "%", NATIVE, "*CD")],
                                   [("c1\\_wp", "c1_wp")]]))
    assert current == {"databases": {"c1_wp", "mysql"}, "users": {"c1_wp": (NATIVE, "*AB")}, "grants": {("c1\\_wp", "c1_wp")},
                       "elsewhere": {"c1_x"}}


# -- tenancy: whitelists, namespaces, ownership (issue 12) ----------------------------------------------------------
def db(name="c1_wp", user="c1_wp", client="c1", password=SECRET):
    return {"name": name, "user": user, "client": client, "password": password}


@pytest.mark.parametrize("entry, option, rule", [
    (db(name="mysql", user="c1_wp"), "databases[0].name", "system schema"),
    (db(name="information_schema"), "databases[0].name", "system schema"),
    (db(name="performance_schema"), "databases[0].name", "system schema"),
    (db(name="sys"), "databases[0].name", "system schema"),
    (db(user="root"), "databases[0].user", "reserved account"),
    (db(user="debian-sys-maint"), "databases[0].user", "a-z, 0-9"),
    (db(user="mariadb.sys"), "databases[0].user", "a-z, 0-9"),
    (db(user="mysql"), "databases[0].user", "reserved account"),
    (db(user="cliente2_db"), "databases[0].user", "start with c1_"),          # another client's user
    (db(name="cliente2_db"), "databases[0].name", "start with c1_"),
    (db(name="c1_"), "databases[0].name", "start with c1_"),
    (db(name="c1_wp\n"), "databases[0].name", "a-z, 0-9"),                   # re.match('...$') would accept it
    (db(name="c1_wp`; DROP DATABASE mysql; --"), "databases[0].name", "a-z, 0-9"),
    (db(user="c1_wp'@'%"), "databases[0].user", "a-z, 0-9"),
    (db(client="c1\n"), "databases[0].client", "client id"),
    (db(name="c1_" + "x" * 62), "databases[0].name", "1-64"),
])
def test_names_are_whitelisted_and_namespaced_by_the_client(entry, option, rule):
    with pytest.raises(Refused) as refused:
        check_wanted([entry], "demo")
    assert refused.value.option == option and rule in str(refused.value)


def test_a_client_with_dashes_has_an_underscore_prefix_and_one_name_has_one_client():
    check_wanted([db(name="a_b_wp", user="a_b_wp", client="a-b")], "demo")
    with pytest.raises(Refused, match="one client"):
        check_wanted([db(name="a_b_wp", user="a_b_wp", client="a-b"), db(name="a_b_wp", user="a_b_wp", client="a")], "demo")
    with pytest.raises(Refused):
        check_wanted([db()], "../demo")


OWNED = {"databases": {"c1_wp": {"reseller": "demo", "client": "c1"}}, "users": {"c1_wp": {"reseller": "demo", "client": "c1"}}}


def test_recorded_objects_of_the_client_are_its_own():
    current = {"databases": {"c1_wp"}, "users": {"c1_wp": (NATIVE, native_hash("changed-1"))}, "grants": GRANTED, "elsewhere": set()}
    assert ownership_problems([db()], current, OWNED, "demo") == []  # its own user: the password may change


@pytest.mark.parametrize("owners, reseller, current, problem", [
    # another client's (or reseller's) user or database, even with the same prefix (client a vs a-b)
    ({"databases": {}, "users": {"c1_wp": {"reseller": "demo", "client": "c1-x"}}}, "demo", empty_current(), "belongs to client c1-x"),
    ({"databases": {"c1_wp": {"reseller": "other", "client": "c1"}}, "users": {}}, "demo", empty_current(), "of reseller other"),
    # a pre-existing user the platform did not record, whose password the caller does not know: no ALTER USER
    ({"databases": {}, "users": {}}, "demo",
     {"databases": set(), "users": {"c1_wp": (NATIVE, native_hash("theirs-1"))}, "grants": set(), "elsewhere": set()},
     "user c1_wp exists and is not recorded"),
    ({"databases": {}, "users": {}}, "demo",
     {"databases": set(), "users": {"c1_wp": ("unix_socket", "")}, "grants": set(), "elsewhere": set()},
     "user c1_wp exists and is not recorded"),
    # a pre-existing database the (new) user has no grant on: no GRANT
    ({"databases": {}, "users": {}}, "demo",
     {"databases": {"c1_wp"}, "users": {}, "grants": set(), "elsewhere": set()}, "database c1_wp exists and is not recorded"),
    ({"databases": {}, "users": {}}, "demo",
     {"databases": {"c1_wp"}, "users": {"c1_wp": (NATIVE, native_hash(SECRET))}, "grants": set(), "elsewhere": set()},
     "database c1_wp exists and is not recorded"),
    # the same name at another host than localhost is not the platform's
    (OWNED, "demo", {"databases": set(), "users": {}, "grants": set(), "elsewhere": {"c1_wp"}}, "another host"),
])
def test_what_is_not_recorded_as_this_clients_is_refused(owners, reseller, current, problem):
    problems = ownership_problems([db()], current, owners, reseller)
    assert any(problem in p for p in problems), problems
    assert SECRET not in repr(problems)


def test_objects_of_an_earlier_version_are_taken_over_only_with_proof_of_their_password():
    current = {"databases": {"c1_wp"}, "users": {"c1_wp": (NATIVE, native_hash(SECRET))}, "grants": {("c1_wp", "c1_wp")},
               "elsewhere": set()}
    assert ownership_problems([db()], current, {"databases": {}, "users": {}}, "demo") == []


def test_an_unescaped_grant_is_narrowed_to_the_database_itself():
    current = {"databases": {"c1_wp"}, "users": {"c1_wp": (NATIVE, native_hash(SECRET))}, "grants": {("c1_wp", "c1_wp")}}
    changes, statements = plan_databases([db()], current)
    assert statements == [("REVOKE ALL PRIVILEGES ON `c1_wp`.* FROM 'c1_wp'@'localhost'", ()),
                          ("GRANT ALL PRIVILEGES ON `c1\\_wp`.* TO 'c1_wp'@'localhost'", ())]
    assert changes[0]["detail"] == ["grant to c1_wp narrowed to c1_wp only"]


def test_identifiers_and_accounts_are_quoted_and_wildcards_escaped():
    assert quote_ident("c1_wp") == "`c1_wp`" and grant_pattern("a_b") == "`a\\_b`"
    assert quote_account("c1_wp") == "'c1_wp'@'localhost'"
    for bad in ("c1`x", "c1'x", "c1_wp\n", "c1%"):
        with pytest.raises(ValueError):
            quote_ident(bad)
        with pytest.raises(ValueError):
            quote_account(bad)


def test_the_ownership_record_round_trips_and_names_the_reseller_and_client():
    record = record_owners(parse_owners(None), [db()], "demo")
    assert record == OWNED
    assert parse_owners(render_owners(record)) == record
    with pytest.raises(ValueError):
        parse_owners("[]")
