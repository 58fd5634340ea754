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


# An identifier that names a secret: DB_PASSWORD, AUTH_KEY ... NONCE_SALT, Joomla's $secret, $smtppass, $password,
# $ftp_pass, $proxy_pass, $session_redis_server_auth, any token, credential or hash.
SECRET_NAME = re.compile(r"pass|pwd|secret|key|salt|token|auth|credential|hash|private|cookie", re.IGNORECASE)
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# PHP, as far as masking needs it: comments, strings (quoted, heredoc, nowdoc), statement ends, the rest.
_TOKEN = re.compile(r"""
    (?P<comment>//[^\n]*|\#[^\n]*|/\*.*?(?:\*/|\Z))
  | (?P<heredoc><<<[ \t]*(?P<hq>['"]?)(?P<hid>[A-Za-z_][A-Za-z0-9_]*)(?P=hq)[^\n]*\n(?:.*?\n)??[ \t]*(?P=hid)\b|<<<.*\Z)
  | (?P<string>'(?:\\.|[^'\\])*(?:'|\Z)|"(?:\\.|[^"\\])*(?:"|\Z))
  | (?P<end>[;{}])
  | (?P<code>[^'"/\#;{}<]+|.)
""", re.DOTALL | re.VERBOSE)


def mask(text, kind=None):
    """The text with the value of every secret-looking setting replaced by a mask, for diffs and errors.

    A string is masked when the statement it is in names a secret before it: define('AUTH_KEY', '...'),
    public $secret = '...', $smtppass = "...", 'password' => '...'. Every string after that name in the same
    statement is masked (concatenations, heredocs, a string left open to the end of the file); comments are
    not read as names. kind is kept for callers; every kind is masked alike.
    """
    if text is None:
        return text
    out = []
    secret = False  # a secret name was seen in this statement
    for token in _TOKEN.finditer(text):
        group, value = token.lastgroup, token.group(0)
        if group in ("end",):
            secret = False
            out.append(value)
        elif group == "code":
            if any(SECRET_NAME.search(word) for word in _IDENTIFIER.findall(value)):
                secret = True
            out.append(value)
        elif group == "string":
            if secret:
                out.append("%s%s%s" % (value[0], SECRET_MASK, value[0]))
            else:
                inner = value[1:-1] if len(value) > 1 else ""
                if _IDENTIFIER.fullmatch(inner) and SECRET_NAME.search(inner):
                    secret = True
                out.append(value)
        elif group == "heredoc":
            quote, name = token.group("hq") or "", token.group("hid") or "EOT"
            out.append("<<<%s%s%s\n%s\n%s" % (quote, name, quote, SECRET_MASK, name) if secret else value)
        else:
            out.append(value)
    return "".join(out)
