# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The reseller's state directory: data read by client_state, never an Ansible inventory (docs/security.md#inventories).

A run reads the platform's inventory (hosts, groups, connection and role settings, the IP pool, platform secrets)
and one reseller's state directory, given by the operator (-e fracto_reseller_dir=<dir>). Ansible never loads that
directory (no inventory parsing, no host_group_vars, nothing templated): client_state reads its group_vars/all/
files itself, and they may define the state keys and the reseller's own vault_* secrets, nothing else, with no
template but a plain reference to one of those secrets ({{ vault_name }}), replaced in Python.
check_reseller_source() names every breach; it never prints a value.
"""

from __future__ import annotations

import os
import re
import stat

STATE_KEY = re.compile(r"fracto_reseller|fracto_packages|fracto_clients(__[a-z0-9_]+)?")
SECRET_KEY = re.compile(r"vault_[a-z0-9_]+")
SECRET_REFERENCE = re.compile(r"\{\{\s*(vault_[a-z0-9_]+)\s*\}\}")
# Jinja's delimiters, and the header that redefines them (`#jinja2:variable_start_string:...`): any of them is a template.
TEMPLATE_MARK = re.compile(r"\{\{|\{%|\{#|#jinja2:", re.IGNORECASE)
ALLOWED_TOP = ("group_vars",)
VARS_DIRS = ("group_vars", "host_vars")
VARS_SUFFIXES = ("", ".yml", ".yaml", ".json")
MAX_FILE = 8 * 1024 * 1024      # bytes of one reseller file: a state is text, not a disk filler
MAX_STRINGS = 500000            # strings of a reseller inventory once YAML aliases are expanded
VAULT_HEADER = "$ANSIBLE_VAULT;"
STATE_RULE = ("a reseller inventory holds only its state (fracto_reseller, fracto_packages, fracto_clients, "
              "fracto_clients__<part>) and its secrets (vault_*)")


class TooLarge(ValueError):
    """A reseller inventory that expands past MAX_STRINGS (YAML aliases)."""


def is_reseller_source(source):
    """A source whose variable files define a reseller state key is a reseller's."""
    return any(STATE_KEY.fullmatch(str(key)) for data in source["vars"].values() if isinstance(data, dict) for key in data)


def _strings(value, path, budget):
    """(path, string) for every string in value, keys included; budget is a one-item list counting down."""
    budget[0] -= 1
    if budget[0] < 0:
        raise TooLarge(path)
    if isinstance(value, dict):
        for key, item in value.items():
            yield "%s.%s" % (path, key), str(key)
            yield from _strings(item, "%s.%s" % (path, key), budget)
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            yield from _strings(item, "%s[%d]" % (path, i), budget)
    elif isinstance(value, str):
        yield path, value
    elif value is not None and not isinstance(value, (bool, int, float)):
        yield path, str(value)  # a vault-encrypted string decrypts to its text


def vault_label(ciphertext):
    """The vault id a vault envelope names ($ANSIBLE_VAULT;1.2;AES256;<id>), "" when it names none."""
    fields = ciphertext.split("\n", 1)[0].strip().split(";")
    return fields[3] if len(fields) > 3 else ""


def _foreign_vaults(value, path, label):
    """Paths of the vault-encrypted strings in value that are not sealed with the vault id label; they are
    replaced by None so that nothing decrypts them with another secret (the platform's)."""
    found = []
    if isinstance(value, dict):
        for key in list(value):
            sub, value[key] = _foreign_vaults_item(value[key], "%s.%s" % (path, key) if path else str(key), label)
            found += sub
    elif isinstance(value, list):
        for i, item in enumerate(value):
            sub, value[i] = _foreign_vaults_item(item, "%s[%d]" % (path, i), label)
            found += sub
    return found


def _foreign_vaults_item(item, path, label):
    ciphertext = getattr(item, "_ciphertext", None)  # Ansible's EncryptedString, still sealed
    if isinstance(ciphertext, str):
        return ([path], None) if vault_label(ciphertext) != label else ([], item)
    return _foreign_vaults(item, path, label), item


def source_name(source):
    """The reseller an inventory belongs to: the name of its directory, which the platform operator chose."""
    return os.path.basename(os.path.normpath(source["path"]))


def check_identity(where, reseller, name, problems):
    """fracto_reseller is a literal mapping whose name is the directory's: a reseller cannot act as another."""
    if not isinstance(reseller, dict) or not isinstance(reseller.get("name"), str) or SECRET_REFERENCE.search(reseller["name"]):
        problems.error("%s: fracto_reseller" % where, "must be a literal mapping with a literal name (not a secret reference)")
    elif reseller["name"] != name:
        problems.error("%s: fracto_reseller.name" % where,
                       "must be %s, the name of the reseller inventory's directory (chosen by the platform operator): "
                       "a reseller cannot act as another" % name)


def check_reseller_source(source, platform_names, problems):
    """Every breach of the data-only rule in one reseller source, reported on problems as `file: variable: rule`."""
    where = source["path"]
    for kind, rule in (("links", "is a symbolic link: a reseller inventory holds plain files only"),
                       ("special", "is not a regular file"),
                       ("large", "is larger than %d bytes" % MAX_FILE),
                       ("foreign_vault", "is vault-encrypted without the reseller's own vault id: a reseller's secrets "
                                         "are sealed with --vault-id %s@<its password> (the id is the name of its "
                                         "directory) and decrypted with that secret only" % source_name(source))):
        for rel in source.get(kind, ()):
            problems.error("%s/%s" % (where, rel), rule)
    for rel in source["other_files"]:
        top = rel.split("/", 1)[0]
        if top not in ALLOWED_TOP:
            problems.error("%s/%s" % (where, rel), "a reseller inventory defines no hosts, groups or inventory plugins; only "
                                                   "group_vars/all/ files (and .md/.txt notes) belong in it")
    defined = {}
    for rel, data in sorted(source["vars"].items()):
        if not (rel.startswith("group_vars/all/") or rel.split(".")[0] == "group_vars/all"):
            problems.error("%s/%s" % (where, rel), "a reseller inventory sets variables in group_vars/all/ only: its state is "
                                                   "not per host or group")
            continue
        if data is None:
            continue
        if not isinstance(data, dict):
            problems.error("%s/%s" % (where, rel), "must be a mapping of variables")
            continue
        for key in data:
            if STATE_KEY.fullmatch(str(key)) or SECRET_KEY.fullmatch(str(key)):
                if str(key) in defined:  # Ansible and this check could then read different files: one definition only
                    problems.error("%s/%s: %s" % (where, rel, key), "is also defined in %s/%s: define each variable once"
                                   % (where, defined[str(key)]))
                defined.setdefault(str(key), rel)
            else:
                problems.error("%s/%s: %s" % (where, rel, key), "%s; %s is the platform's (its inventory sets Ansible, "
                                                                "connection and role variables)" % (STATE_RULE, key))
        if "fracto_reseller" in data:
            check_identity("%s/%s" % (where, rel), data["fracto_reseller"], source_name(source), problems)
    for name, rel in sorted(defined.items()):
        if SECRET_KEY.fullmatch(name) and name in platform_names:  # a state key may be given by the operator's -e
            problems.error("%s/%s: %s" % (where, rel, name), "shadows a variable of the platform inventory: a reseller's "
                                                             "secrets need names of their own")
    budget = [MAX_STRINGS]
    try:
        for rel, data in sorted(source["vars"].items()):
            if isinstance(data, dict):
                for key, value in data.items():  # every value of every file, whatever the key: nothing goes unchecked
                    secret = SECRET_KEY.fullmatch(str(key)) is not None
                    for path, text in _strings(value, str(key), budget):
                        _check_template(problems, "%s/%s: %s" % (where, rel, path), text, secret, defined)
    except TooLarge:
        problems.error(where, "expands to more than %d values (YAML aliases): a reseller state is not that large" % MAX_STRINGS)


def _check_template(problems, where, text, secret, defined):
    if not TEMPLATE_MARK.search(text):
        return
    ref = SECRET_REFERENCE.fullmatch(text.strip())
    if secret or ref is None:
        problems.error(where, "only a plain reference to one of the reseller's own secrets may be templated "
                              "({{ vault_name }}); lookups, filters and expressions are code")
    elif ref.group(1) not in defined:
        problems.error(where, "refers to %s, which the reseller inventory does not define (its own vault_* variables "
                              "only)" % ref.group(1))


def read_source(path, load, ignored):
    """The variable files and the other files of one inventory source (a directory, or a file and its directory).

    load(path) returns a file's data (vault decrypted, never trusted as a template); ignored(name) is Ansible's own
    rule for the files an inventory directory skips. Symbolic links, special and oversized files are listed, not read.
    Paths are relative to the source, shown from the cwd.
    """
    base = path if os.path.isdir(path) else os.path.dirname(path)
    shown = os.path.relpath(base) if not os.path.relpath(base).startswith("..") else base
    source = {"path": shown, "vars": {}, "other_files": [], "links": [], "special": [], "large": []}
    if not os.path.isdir(path):
        source["other_files"].append(os.path.basename(path))
    for entry in sorted(os.listdir(base)):
        full = os.path.join(base, entry)
        if entry in VARS_DIRS:
            if os.path.islink(full):
                source["links"].append(entry)
            for root, dirs, files in os.walk(full, followlinks=True):  # group_vars itself may be a link (molecule's)
                links = sorted(n for n in dirs + files if os.path.islink(os.path.join(root, n)))
                source["links"].extend(os.path.relpath(os.path.join(root, n), base) for n in links)
                dirs[:] = sorted(d for d in dirs if d not in links)
                for name in sorted(files):
                    if name in links or name.startswith(".") or os.path.splitext(name)[1] not in VARS_SUFFIXES:
                        continue
                    _read_vars(source, base, os.path.join(root, name), load)
        elif os.path.isdir(path) and not ignored(entry):
            source["other_files"].append(entry)
    return source


def _read_vars(source, base, full, load):
    rel = os.path.relpath(full, base)
    info = os.stat(full)
    if not stat.S_ISREG(info.st_mode):
        source["special"].append(rel)
    elif info.st_size > MAX_FILE:
        source["large"].append(rel)
    else:
        with open(full, "rb") as handle:
            head = handle.read(256).decode("utf-8", "replace")
        label = os.path.basename(os.path.normpath(base))
        if head.startswith(VAULT_HEADER) and vault_label(head) != label:  # never decrypted with another id's secret
            source.setdefault("foreign_vault", []).append(rel)
            return
        data = load(full)
        if isinstance(data, dict):
            source.setdefault("foreign_vault", []).extend("%s: %s" % (rel, p) for p in _foreign_vaults(data, "", label))
        source["vars"][rel] = data


def _plain(value, secrets):
    """A copy of value with plain Python strings (no template trust carried over) and secret references replaced."""
    if isinstance(value, dict):
        return {_plain(k, {}): _plain(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v, secrets) for v in value]
    if isinstance(value, str):
        ref = SECRET_REFERENCE.fullmatch(value.strip())
        if ref and ref.group(1) in secrets:
            return _plain(secrets[ref.group(1)], {})
        return str.__str__(value)
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return str.__str__(str(value))  # a vault-encrypted string decrypts to its text


def with_secrets(value, source, overrides=None):
    """value (the operator's override of a state variable) with the reseller's secret references replaced."""
    secrets = {}
    for data in source["vars"].values():
        if isinstance(data, dict):
            secrets.update({str(k): v for k, v in data.items() if SECRET_KEY.fullmatch(str(k))})
    secrets.update({k: v for k, v in (overrides or {}).items() if SECRET_KEY.fullmatch(str(k))})
    return _plain(value, secrets)


def reseller_state(source, overrides=None):
    """The state variables of a checked reseller source, its secret references replaced in Python (never templated);
    overrides: the operator's -e values of secrets (a what-if run), as data."""
    state, secrets = {}, {}
    for data in source["vars"].values():
        if isinstance(data, dict):
            for key, value in data.items():
                if SECRET_KEY.fullmatch(str(key)):
                    secrets[str(key)] = value
                elif STATE_KEY.fullmatch(str(key)):
                    state[str(key)] = value
    secrets.update({k: v for k, v in (overrides or {}).items() if SECRET_KEY.fullmatch(str(k))})
    return {key: _plain(value, secrets) for key, value in state.items()}
