# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read and rewrite the database settings of a site's config: wp-config.php and Joomla's configuration.php.

Only the values change: comments, order and every other setting stay as they were.
"""

from __future__ import annotations

import re

SECRET_MASK = "********"
# kind -> {setting: the config's own name}
FIELDS = {
    "wordpress": {"host": "DB_HOST", "name": "DB_NAME", "user": "DB_USER", "password": "DB_PASSWORD"},
    "joomla": {"host": "host", "name": "db", "user": "user", "password": "password"},
}
_STRING = r"""(?P<q>['"])(?P<value>(?:\\.|(?!(?P=q)).)*)(?P=q)"""


class ConfigError(Exception):
    pass


def _pattern(kind, key):
    if kind == "wordpress":
        return re.compile(r"""(?P<head>define\(\s*(['"])%s\2\s*,\s*)%s""" % (re.escape(key), _STRING))
    if kind == "joomla":
        return re.compile(r"""(?P<head>(?:public|var)\s+\$%s\s*=\s*)%s""" % (re.escape(key), _STRING))
    raise ConfigError("unknown config kind %r" % kind)


def php_unquote(value, quote):
    if quote == "'":
        return re.sub(r"\\([\\'])", r"\1", value)
    return re.sub(r"\\(.)", r"\1", value)


def php_quote(value):
    return "'%s'" % value.replace("\\", "\\\\").replace("'", "\\'")


def read_settings(text, kind):
    """{host, name, user, password} as the file has them (password included: callers keep it to themselves)."""
    settings = {}
    for field, key in FIELDS[kind].items():
        match = _pattern(kind, key).search(text)
        if match:
            settings[field] = php_unquote(match.group("value"), match.group("q"))
    return settings


def public_settings(text, kind):
    return {k: v for k, v in read_settings(text, kind).items() if k != "password"}


def rewrite(text, kind, database):
    """The config with host, name, user and password replaced; Joomla's retired mysql driver becomes mysqli.

    Returns (text, notes); notes say what else was changed (no value of a password).
    """
    notes = []
    for field, key in FIELDS[kind].items():
        pattern = _pattern(kind, key)
        if not pattern.search(text):
            raise ConfigError("%s has no %s setting" % ("wp-config.php" if kind == "wordpress" else "configuration.php", key))
        replacement = php_quote(database[field])
        text = pattern.sub(lambda m, r=replacement: m.group("head") + r, text, count=1)
    if kind == "joomla":
        dbtype = _pattern(kind, "dbtype")
        match = dbtype.search(text)
        if match and match.group("value") == "mysql":
            # PHP 7 removed the mysql extension; mysqli speaks to the same server.
            text = dbtype.sub(lambda m: m.group("head") + "'mysqli'", text, count=1)
            notes.append("dbtype mysql -> mysqli (PHP 7 removed the mysql extension)")
    return text, notes


def mask(text, kind):
    """The text with every password value replaced by a mask, for diffs and errors."""
    if text is None:
        return text
    pattern = _pattern(kind, FIELDS[kind]["password"])
    return pattern.sub(lambda m: m.group("head") + "'%s'" % SECRET_MASK, text)
