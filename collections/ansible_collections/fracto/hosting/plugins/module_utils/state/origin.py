# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where each variable comes from: the platform inventory or a reseller's state (docs/security.md#inventories).

A run reads two kinds of inventory: the platform's (hosts, groups, connection and role settings, the IP pool,
platform secrets) and one reseller's, which is data only. A reseller inventory holds group_vars/all/ files that
define its state keys and its own vault_* secrets, nothing else: no hosts, no groups, no Ansible or role variable,
no template but a plain reference to one of its own secrets ({{ vault_name }}); a lookup, filter or expression
would be code run on the controller. check_sources() names every breach; it never prints a value.
"""

from __future__ import annotations

import os
import re

STATE_KEY = re.compile(r"fracto_reseller|fracto_packages|fracto_clients(__[a-z0-9_]+)?")
SECRET_KEY = re.compile(r"vault_[a-z0-9_]+")
SECRET_REFERENCE = re.compile(r"\{\{\s*(vault_[a-z0-9_]+)\s*\}\}")
# Jinja's delimiters, and the header that redefines them (`#jinja2:variable_start_string:...`): any of them is a template.
TEMPLATE_MARK = re.compile(r"\{\{|\{%|\{#|#jinja2:", re.IGNORECASE)
# Files Ansible skips when it reads an inventory directory (INVENTORY_IGNORE_EXTS and INVENTORY_IGNORE_PATTERNS).
IGNORED_SUFFIXES = (".md", ".txt", ".rst", ".orig", ".bak", ".retry", ".pyc", ".pyo", "~", ".cfg", ".ini.sample")
ALLOWED_TOP = ("group_vars",)
VARS_DIRS = ("group_vars", "host_vars")
VARS_SUFFIXES = ("", ".yml", ".yaml", ".json")
STATE_RULE = ("a reseller inventory holds only its state (fracto_reseller, fracto_packages, fracto_clients, "
              "fracto_clients__<part>) and its secrets (vault_*)")


def is_reseller_source(source):
    """A source whose variable files define a reseller state key is a reseller's."""
    return any(STATE_KEY.fullmatch(str(key)) for data in source["vars"].values() if isinstance(data, dict) for key in data)


def _strings(value, path):
    """(path, string) for every string in value, keys included."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield "%s.%s" % (path, key), str(key)
            yield from _strings(item, "%s.%s" % (path, key))
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            yield from _strings(item, "%s[%d]" % (path, i))
    elif isinstance(value, str):
        yield path, value
    elif value is not None and not isinstance(value, (bool, int, float)):
        yield path, str(value)  # a vault-encrypted string decrypts to its text


def source_name(source):
    """The reseller an inventory belongs to: the name of its directory, which the platform operator chose."""
    return os.path.basename(os.path.normpath(source["path"]))


def check_reseller_source(source, platform_names, problems):
    """Every breach of the data-only rule in one reseller source, reported on problems as `file: variable: rule`."""
    where = source["path"]
    for rel, data in sorted(source["vars"].items()):
        reseller = data.get("fracto_reseller") if isinstance(data, dict) else None
        if isinstance(reseller, dict) and "name" in reseller and reseller["name"] != source_name(source):
            problems.error("%s/%s: fracto_reseller.name" % (where, rel),
                           "must be %s, the name of the reseller inventory's directory (chosen by the platform operator): "
                           "a reseller cannot act as another" % source_name(source))
    for rel in source["other_files"]:
        top = rel.split("/", 1)[0]
        if top not in ALLOWED_TOP:
            problems.error("%s/%s" % (where, rel), "a reseller inventory defines no hosts, groups or inventory plugins; only "
                                                   "group_vars/all/ files (and .md/.txt notes) belong in it")
    defined = {}
    for rel, data in sorted(source["vars"].items()):
        if not (rel.startswith("group_vars/all/") or rel.split(".")[0] == "group_vars/all"):
            problems.error("%s/%s" % (where, rel), "a reseller inventory sets variables in group_vars/all/ only: its state is not per host or group")
            continue
        if data is None:
            continue
        if not isinstance(data, dict):
            problems.error("%s/%s" % (where, rel), "must be a mapping of variables")
            continue
        for key in data:
            if STATE_KEY.fullmatch(str(key)) or SECRET_KEY.fullmatch(str(key)):
                defined[str(key)] = rel
            else:
                problems.error("%s/%s: %s" % (where, rel, key), "%s; %s is the platform's (its inventory sets Ansible, connection and "
                                                                "role variables)" % (STATE_RULE, key))
    for name, rel in sorted(defined.items()):
        if name in platform_names:
            problems.error("%s/%s: %s" % (where, rel, name), "shadows a variable of the platform inventory: a reseller's secrets need "
                                                             "names of their own")
    for rel, data in sorted(source["vars"].items()):
        if not isinstance(data, dict):
            continue
        for key, value in data.items():
            if str(key) not in defined or defined[str(key)] != rel:
                continue
            secret = SECRET_KEY.fullmatch(str(key)) is not None
            for path, text in _strings(value, str(key)):
                if not TEMPLATE_MARK.search(text):
                    continue
                ref = SECRET_REFERENCE.fullmatch(text.strip())
                if secret or ref is None:
                    problems.error("%s/%s: %s" % (where, rel, path), "only a plain reference to one of the reseller's own secrets "
                                                                     "may be templated ({{ vault_name }}); lookups, filters and "
                                                                     "expressions are code")
                elif ref.group(1) not in defined:
                    problems.error("%s/%s: %s" % (where, rel, path), "refers to %s, which the reseller inventory does not define "
                                                                     "(its own vault_* variables only)" % ref.group(1))


def check_sources(sources, problems):
    """sources: [{"path", "vars": {relative file: data}, "other_files": [relative paths]}]; exactly one reseller's."""
    resellers = [s for s in sources if is_reseller_source(s)]
    if len(resellers) != 1:
        problems.error("inventory", "a run reads the platform inventory and exactly one reseller inventory (one that "
                                    "defines fracto_reseller/fracto_clients); found %d: %s"
                       % (len(resellers), ", ".join(s["path"] for s in resellers) or "none"))
        return
    platform_names = set()
    for source in sources:
        if source is not resellers[0]:
            for data in source["vars"].values():
                if isinstance(data, dict):
                    platform_names.update(str(k) for k in data)
    check_reseller_source(resellers[0], platform_names, problems)


def read_source(path, load):
    """The variable files and the other files of one inventory source (a directory, or a file and its directory).

    load(path) returns a file's data (vault decrypted); paths are relative to the source, shown from the cwd.
    """
    base = path if os.path.isdir(path) else os.path.dirname(path)
    shown = os.path.relpath(base) if not os.path.relpath(base).startswith("..") else base
    source = {"path": shown, "vars": {}, "other_files": []}
    if not os.path.isdir(path):
        source["other_files"].append(os.path.basename(path))
    for entry in sorted(os.listdir(base)):
        full = os.path.join(base, entry)
        if entry in VARS_DIRS:
            for root, dirs, files in os.walk(full, followlinks=True):
                dirs.sort()
                for name in sorted(files):
                    if name.startswith(".") or os.path.splitext(name)[1] not in VARS_SUFFIXES:
                        continue
                    source["vars"][os.path.relpath(os.path.join(root, name), base)] = load(os.path.join(root, name))
        elif os.path.isdir(path) and not entry.startswith(".") and not entry.endswith(IGNORED_SUFFIXES):
            source["other_files"].append(entry)
    return source


def _substitute(value, secrets):
    if isinstance(value, dict):
        return {k: _substitute(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, secrets) for v in value]
    if isinstance(value, str):
        ref = SECRET_REFERENCE.fullmatch(value.strip())
        if ref and ref.group(1) in secrets:
            secret = secrets[ref.group(1)]
            return secret if isinstance(secret, (str, dict, list, int, bool)) or secret is None else str(secret)
        return value
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return str(value)  # a vault-encrypted string decrypts to its text


def reseller_state(source):
    """The state variables of a checked reseller source, its secret references replaced in Python (never templated)."""
    state, secrets = {}, {}
    for data in source["vars"].values():
        if isinstance(data, dict):
            for key, value in data.items():
                if SECRET_KEY.fullmatch(str(key)):
                    secrets[str(key)] = value if isinstance(value, (str, dict, list)) or value is None else str(value)
                elif STATE_KEY.fullmatch(str(key)):
                    state[str(key)] = value
    return {key: _substitute(value, secrets) for key, value in state.items()}
