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
