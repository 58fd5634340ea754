# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Planning of the clients' MariaDB databases and users (module_utils/db/mariadb.py), without a server."""

from __future__ import annotations

import hashlib

import pytest
from ansible_collections.fracto.hosting.plugins.module_utils.db.mariadb import (
    NATIVE,
    empty_current,
    native_hash,
    plan_databases,
    quote_ident,
    read_current,
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
    assert sql[2] == "GRANT ALL PRIVILEGES ON `c1_wp`.* TO 'c1_wp'@'localhost'"
    assert statements[1][1] == (SECRET,)
    assert SECRET not in repr(changes) and all(SECRET not in s for s in sql)


def test_converged_server_has_nothing_to_do():
    current = {"databases": {"c1_wp"}, "users": {"c1_wp": (NATIVE, native_hash(SECRET))}, "grants": {("c1_wp", "c1_wp")}}
    assert plan_databases(WANTED, current) == ([], [])


def test_password_change_detected_without_printing_it():
    current = {"databases": {"c1_wp"}, "users": {"c1_wp": (NATIVE, native_hash("old-password-1"))}, "grants": {("c1_wp", "c1_wp")}}
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


def test_read_current_unescapes_grant_wildcards():
    current = read_current(Cursor([[("c1_wp",), ("mysql",)], [("c1_wp", NATIVE, "*AB")], [("c1\\_wp", "c1_wp")]]))
    assert current == {"databases": {"c1_wp", "mysql"}, "users": {"c1_wp": (NATIVE, "*AB")}, "grants": {("c1_wp", "c1_wp")}}
