# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Paths into the state and the list of problems found in it."""

from __future__ import annotations

import re

_BARE_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
# Shown escaped in every message: a newline in a key or a rule must not start a line of its own in the output.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def escape_controls(text):
    """text with each control character as \\xNN (\\uNNNN), so that a message stays one line."""
    return _CONTROL.sub(lambda m: ("\\x%02x" if ord(m.group()) < 0x100 else "\\u%04x") % ord(m.group()), text)


class StatePath:
    """A readable path such as fracto_clients.gamma.domains["ALFA.test"]."""

    __slots__ = ("text",)

    def __init__(self, text):
        self.text = text

    def __truediv__(self, key):
        if isinstance(key, int):
            return StatePath("%s[%d]" % (self.text, key))
        key = escape_controls(str(key))
        if _BARE_KEY.fullmatch(key):
            return StatePath("%s.%s" % (self.text, key))
        return StatePath('%s["%s"]' % (self.text, key.replace('"', '\\"')))

    def __str__(self):
        return self.text

    __repr__ = __str__


class Problems:
    """Errors and warnings, each with the path it is about and the rule broken."""

    def __init__(self):
        self.errors = []
        self.warnings = []

    def error(self, path, rule):
        self.errors.append(escape_controls("%s: %s" % (path, rule)))

    def warn(self, path, rule):
        self.warnings.append(escape_controls("%s: %s" % (path, rule)))

    def __bool__(self):
        return bool(self.errors)


def type_name(value):
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, (list, tuple)):
        return "a list"
    if value is None:
        return "empty (null)"
    return type(value).__name__


def check_mapping(problems, path, value, allowed, required=()):
    """Refuse non-mappings, unknown keys (a typo must not be ignored) and missing keys."""
    if not isinstance(value, dict):
        problems.error(path, "must be a mapping, got %s" % type_name(value))
        return False
    for key in value:
        if key not in allowed:
            problems.error(path / key, "unknown key (allowed: %s)" % ", ".join(sorted(allowed)))
    for key in required:
        if key not in value:
            problems.error(path / key, "is required")
    return True


def want_bool(problems, path, value):
    if not isinstance(value, bool):
        problems.error(path, "must be true or false, got %s" % type_name(value))
        return False
    return True


def want_str(problems, path, value, pattern=None, rule=None):
    if not isinstance(value, str) or not value:
        problems.error(path, "must be a non-empty string, got %s" % type_name(value))
        return False
    if pattern is not None and not pattern.fullmatch(value):  # whole value: re.match with $ accepts a trailing newline
        problems.error(path, rule)
        return False
    return True


def want_choice(problems, path, value, choices):
    if value not in choices:
        problems.error(path, "must be one of %s" % ", ".join(choices))
        return False
    return True


def want_list(problems, path, value):
    if not isinstance(value, list):
        problems.error(path, "must be a list, got %s" % type_name(value))
        return False
    return True
