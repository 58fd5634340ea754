# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The web settings a reseller may tune per package (`fracto_packages.<p>.web`): a whitelist of keys, a grammar and
bounds for each value.

A reseller's state is hostile input: it never brings configuration text, only whole values of the keys listed here,
each matched whole (re.fullmatch) and bounded, so that what reaches an nginx vhost or a PHP-FPM pool is a number and
a unit. Checked twice with the same rules: on the controller when the state is validated (module_utils/state), and on
the host by fracto.hosting.web_sites before anything is rendered. A leaf module: it imports nothing of the collection.
Each check returns the rule broken, in words, or None.
"""

from __future__ import annotations

import re

KIB, MIB, GIB = 1024, 1024 ** 2, 1024 ** 3
# nginx sizes: 1-5 digits, then k, m or g (either case), or bytes without a unit.
NGINX_SIZE = re.compile(r"([1-9][0-9]{0,4})([kKmMgG]?)")
# PHP's shorthand bytes (php.ini): the same, with K, M or G.
PHP_SIZE = NGINX_SIZE
SECONDS = re.compile(r"[1-9][0-9]{0,3}")
UNITS = {"": 1, "k": KIB, "m": MIB, "g": GIB}

WEB_KEYS = ("client_max_body_size", "disk_quota", "log_retention_days", "log_truncate_ip", "php_ini", "php_max_children")
# client_max_body_size: the largest request body nginx accepts (uploads, form posts); nginx's default is 1m.
BODY_SIZE_MAX = GIB
BODY_SIZE_RULE = ("must be a size of 1-5 digits and an optional unit k, m or g (nginx, e.g. 64m), "
                  "from 1 byte to 1g")
# php_max_children: how many PHP requests of one client run at once (its PHP-FPM pool's pm.max_children); the rest
# wait in the pool's queue, so one busy or misbehaving site cannot take every PHP worker of the host.
MAX_CHILDREN = re.compile(r"[1-9][0-9]{0,2}")
MAX_CHILDREN_DEFAULT, MAX_CHILDREN_HIGHEST = 5, 100
MAX_CHILDREN_RULE = "must be a whole number of PHP processes from 1 to %d (e.g. 10)" % MAX_CHILDREN_HIGHEST
# disk_quota: the space a client's files, logs and databases may take. Containers and most filesystems the platform
# runs on have no per-user quota, so it is measured at every run and reported past the limit (docs/state.md#disk-use).
DISK_SIZE = re.compile(r"([1-9][0-9]{0,4})([mMgG])")
DISK_LOWEST, DISK_HIGHEST = 10 * MIB, 10000 * GIB
DISK_RULE = "must be a size of 1-5 digits and a unit m or g (e.g. 5g), from 10m to 10000g"
# log_retention_days: how many days of a client's logs (nginx access/error, PHP error/slow) logrotate keeps.
LOG_DAYS = re.compile(r"[1-9][0-9]{0,2}")
LOG_DAYS_DEFAULT, LOG_DAYS_HIGHEST = 14, 365
LOG_DAYS_RULE = "must be a whole number of days from 1 to %d (e.g. 14)" % LOG_DAYS_HIGHEST
# log_truncate_ip: the access log keeps a visitor's network, not its address (IPv4 /24, IPv6 /48); default: the
# package's gdpr flag.
LOG_TRUNCATE_RULE = "must be true or false"
# The PHP ini settings a package may set in its clients' pools: name -> (kind, lowest, highest, rule).
PHP_INI = {
    "memory_limit": ("size", 16 * MIB, 2 * GIB,
                     "must be a size of 1-5 digits and an optional unit K, M or G (PHP, e.g. 256M), from 16M to 2G"),
    "upload_max_filesize": ("size", 1, GIB,
                            "must be a size of 1-5 digits and an optional unit K, M or G (PHP, e.g. 64M), at most 1G"),
    "post_max_size": ("size", 1, GIB,
                      "must be a size of 1-5 digits and an optional unit K, M or G (PHP, e.g. 64M), at most 1G"),
    "max_execution_time": ("seconds", 1, 3600, "must be a whole number of seconds from 1 to 3600 (e.g. 60)"),
}


def _text(value):
    """A setting as text: a string, or an integer YAML read as one (60); None for anything else (bool included)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    return value if isinstance(value, str) else None


def size_bytes(text, pattern=NGINX_SIZE):
    """The number of bytes of a size that matches pattern whole, else None."""
    match = pattern.fullmatch(text) if isinstance(text, str) else None
    if not match:
        return None
    return int(match.group(1)) * UNITS[match.group(2).lower()]


def body_size_problem(value):
    """The rule client_max_body_size breaks, or None."""
    size = size_bytes(_text(value))
    if size is None or size > BODY_SIZE_MAX:
        return BODY_SIZE_RULE
    return None


def max_children_problem(value):
    """The rule php_max_children breaks, or None."""
    text = _text(value)
    if not (isinstance(text, str) and MAX_CHILDREN.fullmatch(text) and int(text) <= MAX_CHILDREN_HIGHEST):
        return MAX_CHILDREN_RULE
    return None


def disk_quota_bytes(value):
    """The bytes of a disk_quota that follows DISK_RULE, else None."""
    size = size_bytes(_text(value), DISK_SIZE)
    return size if size is not None and DISK_LOWEST <= size <= DISK_HIGHEST else None


def log_days_problem(value):
    """The rule log_retention_days breaks, or None."""
    text = _text(value)
    if not (isinstance(text, str) and LOG_DAYS.fullmatch(text) and int(text) <= LOG_DAYS_HIGHEST):
        return LOG_DAYS_RULE
    return None


def php_ini_problem(name, value):
    """The rule a PHP ini setting of a package breaks (an unknown name, or a value outside its grammar), or None."""
    if name not in PHP_INI:
        return "unknown PHP setting (allowed: %s)" % ", ".join(sorted(PHP_INI))
    kind, low, high, rule = PHP_INI[name]
    text = _text(value)
    if kind == "seconds":
        number = int(text) if isinstance(text, str) and SECONDS.fullmatch(text) else None
    else:
        number = size_bytes(text, PHP_SIZE)
    if number is None or not low <= number <= high:
        return rule
    return None


def disk_quota_problem(value):
    """The rule disk_quota breaks, or None."""
    return DISK_RULE if disk_quota_bytes(value) is None else None


# The keys whose value is one text (a number, a size), each with the check that returns the rule it breaks.
SCALAR_CHECKS = {"client_max_body_size": body_size_problem, "disk_quota": disk_quota_problem,
                 "log_retention_days": log_days_problem, "php_max_children": max_children_problem}


def web_settings(value, error, path):
    """The normalised web settings of a package ({} when none), every value a string but log_truncate_ip (a bool).

    error(path, rule) reports a problem; path supports `/ key` (module_utils/state's StatePath). A key outside
    WEB_KEYS, a value outside its grammar or bounds, or anything but a mapping is reported and left out.
    """
    if value is None:
        return {}
    if not isinstance(value, dict):
        error(path, "must be a mapping of web settings (%s)" % ", ".join(WEB_KEYS))
        return {}
    settings = {}
    for key in value:
        if key not in WEB_KEYS:
            error(path / key, "unknown key (allowed: %s)" % ", ".join(WEB_KEYS))
    for key, problem in SCALAR_CHECKS.items():
        if value.get(key) is not None:
            rule = problem(value[key])
            if rule:
                error(path / key, rule)
            else:
                settings[key] = _text(value[key])
    if value.get("log_truncate_ip") is not None:
        if isinstance(value["log_truncate_ip"], bool):
            settings["log_truncate_ip"] = value["log_truncate_ip"]
        else:
            error(path / "log_truncate_ip", LOG_TRUNCATE_RULE)
    php_ini = value.get("php_ini")
    if php_ini is not None and not isinstance(php_ini, dict):
        error(path / "php_ini", "must be a mapping of PHP setting to value (allowed: %s)" % ", ".join(sorted(PHP_INI)))
    elif php_ini:
        good = {}
        for name, setting in php_ini.items():
            rule = php_ini_problem(name, setting)
            if rule:
                error(path / "php_ini" / name, rule)
            else:
                good[name] = _text(setting)
        settings["php_ini"] = dict(sorted(good.items()))
    return settings
