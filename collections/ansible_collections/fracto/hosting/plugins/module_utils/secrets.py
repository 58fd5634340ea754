# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Redaction of secrets wherever a value is printed or stored (plans, reports, status files, errors).

One function per shape: a URL or restic repository string loses the password of its userinfo
(`rest:https://user:****@host/`), a mapping loses the values of secret-looking keys.
"""

from __future__ import annotations

import re

MASK = "****"
SECRET_KEY = re.compile(r"(pass(word|wd|phrase)?|secret|token|key|salt|hash|credential|auth)", re.IGNORECASE)
# scheme://user:password@  or  backend:scheme://user:password@  (restic's rest:https://..., s3:https://...)
# The password runs to the LAST "@" before the path (a raw "@" in a password is still masked whole).
_USERINFO = re.compile(r"(?P<head>(?:^|[\s\"'(=,])(?:[a-z0-9]+:)?[a-z][a-z0-9+.-]*://)(?P<user>[^:@/\s]*):(?P<pw>[^/\s]*)@",
                       re.IGNORECASE)


def redact_url(text):
    """Mask the password of every user:password@ in a URL-like string; other text is kept."""
    if not isinstance(text, str):
        return text
    return _USERINFO.sub(lambda m: "%s%s:%s@" % (m.group("head"), m.group("user"), MASK), text)


def redact(value, key=None):
    """A deep copy of value with secret-looking keys masked and URLs redacted."""
    if key is not None and isinstance(key, str) and SECRET_KEY.search(key) and isinstance(value, (str, bytes)) and value:
        return MASK
    if isinstance(value, dict):
        return {k: redact(v, k) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact(v) for v in value]
    if isinstance(value, str):
        return redact_url(value)
    return value


def url_passwords(text):
    """The passwords of every user:password@ in a URL-like string (to add to a module's no_log values)."""
    if not isinstance(text, str):
        return []
    return [m.group("pw") for m in _USERINFO.finditer(text) if m.group("pw")]


def _leaves(value):
    if isinstance(value, dict):
        for item in value.values():
            yield from _leaves(item)
    elif isinstance(value, (list, tuple, set)):
        for item in value:
            yield from _leaves(item)
    elif value is not None and not isinstance(value, bool):
        text = str(value)
        if text:
            yield text


def narrow_no_log(no_log_values, public, secret=()):
    """Keep only the secret parts of a no_log option in a module's no_log values.

    An option such as backup_jobs' jobs is no_log because some of its values carry a secret (a repository URL with a
    password): Ansible then masks every leaf of it (client ids, "web", "7", ...) wherever it appears in the result,
    and the result can no longer say which job changed. This removes the leaves of public from no_log_values, except
    those that are (or contain) a value of secret, and adds the passwords found in URLs. The invocation logged by
    AnsibleModule before this call (syslog/journal) keeps the whole option hidden.
    """
    secret_values = set(_leaves(secret))
    keep = set()
    for leaf in _leaves(public):
        passwords = url_passwords(leaf)
        if passwords:
            keep.add(leaf)
            keep.update(passwords)
    drop = {leaf for leaf in _leaves(public)
            if leaf not in keep and not any(s in leaf for s in secret_values)}
    no_log_values.difference_update(drop)
    no_log_values.update(keep)
    return no_log_values
