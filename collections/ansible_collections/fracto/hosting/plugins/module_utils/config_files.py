# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A role's own configuration files, written, checked and loaded in one round trip (fracto.hosting.config_files).

A set is one service's files (and the files it must no longer read, removed), the commands that check its whole configuration (rspamadm configtest, sievec,
fail2ban-client --test) and how the service takes them (reload or restart). Every changed file of every set is
written in one Transaction; each changed set's checks run; when one fails, every file is put back as it was (or
removed) and the service keeps its last good configuration. Then the changed sets' services reload; a reload that
fails puts the files back and reloads again. Services to keep running (``started``) are read in one
``systemctl show`` and only those stopped or disabled are started and enabled.

Pure planning plus an apply() that takes the two host actions it needs (run a command, write a file) as arguments,
so that it is unit-tested without a host.
"""

from __future__ import annotations

import grp
import os
import pwd
import stat

from ansible_collections.fracto.hosting.plugins.module_utils.files import read_text
from ansible_collections.fracto.hosting.plugins.module_utils.transaction import Transaction

ACTIONS = ("reload", "restart")


class ConfigError(ValueError):
    """A set or file argument that cannot be used; str() names the field and the rule."""


def checked_sets(sets):
    """The sets with their defaults, or ConfigError naming the field."""
    out = []
    for i, entry in enumerate(sets):
        where = "sets[%d]" % i
        service = entry.get("service")  # None: files that no service loads (written and checked only)
        if service is not None and (not isinstance(service, str) or not service or "/" in service or service.startswith("-")):
            raise ConfigError("%s.service: must be a systemd unit name" % where)
        action = entry.get("action", "reload")
        if action not in ACTIONS:
            raise ConfigError("%s.action: must be one of %s" % (where, ", ".join(ACTIONS)))
        checks = entry.get("check") or []
        if not all(isinstance(c, list) and c and all(isinstance(a, str) for a in c) for c in checks):
            raise ConfigError("%s.check: must be a list of commands, each a list of strings" % where)
        files = []
        for j, item in enumerate(entry.get("files") or []):
            dest = item.get("dest")
            if not isinstance(dest, str) or not os.path.isabs(dest) or "/../" in dest + "/":
                raise ConfigError("%s.files[%d].dest: must be an absolute path" % (where, j))
            if not isinstance(item.get("content"), str):
                raise ConfigError("%s.files[%d].content: must be the file's text" % (where, j))
            mode = item.get("mode", "0644")
            try:
                mode = int(mode, 8) if isinstance(mode, str) else int(mode)
            except ValueError:
                raise ConfigError("%s.files[%d].mode: must be an octal mode such as 0644" % (where, j)) from None
            files.append({"dest": dest, "content": item["content"], "mode": mode,
                          "owner": item.get("owner") or "root", "group": item.get("group") or "root"})
        absent = entry.get("absent") or []
        for j, dest in enumerate(absent):
            if not isinstance(dest, str) or not os.path.isabs(dest) or "/../" in dest + "/":
                raise ConfigError("%s.absent[%d]: must be an absolute path" % (where, j))
        out.append({"service": service, "action": action, "check": checks, "files": files, "absent": list(absent)})
    return out


def _ids(owner, group):
    return pwd.getpwnam(owner).pw_uid, grp.getgrnam(group).gr_gid


def differs(item, current_text, info):
    """Why a file must be written ("content", "mode", "owner"), or None when it is as wanted."""
    if current_text is None or info is None:
        return "content"
    if current_text != item["content"]:
        return "content"
    if stat.S_IMODE(info.st_mode) != item["mode"]:
        return "mode"
    try:
        uid, gid = _ids(item["owner"], item["group"])
    except KeyError:  # the user or group does not exist yet (check mode before its package): it will be written
        return "owner"
    if (info.st_uid, info.st_gid) != (uid, gid):
        return "owner"
    return None


def plan(sets, read=read_text, lstat=os.stat):
    """[(set, [(file, before text or None, why)])] of the files to write, per set, in the given order."""
    changes = []
    for entry in sets:
        files = []
        for item in entry["files"]:
            before = read(item["dest"])
            try:
                info = lstat(item["dest"])
            except FileNotFoundError:
                info = None
            why = differs(item, before, info)
            if why:
                files.append((item, before, why))
        for dest in entry.get("absent", []):
            if os.path.lexists(dest):  # a file the service must no longer read: removed (put back on a failure)
                files.append(({"dest": dest, "content": None}, read(dest), "absent"))
        if files:
            changes.append((entry, files))
    return changes


def service_states(run, services):
    """{service: (active state, unit file state)} in one ``systemctl show``."""
    rc, out, err = run(["systemctl", "show", "--property=Id,ActiveState,UnitFileState", "--"] + list(services))
    if rc != 0:
        raise ConfigError("systemctl show failed: %s" % (err or out).strip())
    blocks = [dict(line.partition("=")[::2] for line in chunk.splitlines() if "=" in line)
              for chunk in out.strip().split("\n\n")]
    return {name: (b.get("ActiveState", ""), b.get("UnitFileState", "")) for name, b in zip(services, blocks)}


def to_start(run, services):
    """The services that are not running or not enabled."""
    if not services:
        return []
    states = service_states(run, services)
    return [s for s in services if states.get(s, ("", ""))[0] != "active" or states.get(s, ("", ""))[1] not in
            ("enabled", "static", "alias", "indirect", "generated", "enabled-runtime")]


def _run_checks(run, changes):
    for entry, _files in changes:
        for command in entry["check"]:
            rc, out, err = run(command)
            if rc != 0:
                return "%s refused the new configuration (%s): %s" % (entry["service"], " ".join(command), (err or out).strip())
    return None


def _load(run, changes):
    for entry, _files in changes:
        if entry["service"] is None:
            continue
        rc, out, err = run(["systemctl", "reload-or-restart" if entry["action"] == "reload" else "restart", entry["service"]])
        if rc != 0:
            return "systemctl %s %s failed: %s" % (entry["action"], entry["service"], (err or out).strip())
    return None


def apply(changes, run, write):
    """Write, check and load the changed sets; returns (services loaded, failure or None). On a failure every file
    is back as it was and, when a reload had started, the services were loaded again on the old files."""
    tx = Transaction(write=write)

    def change():
        for _entry, files in changes:
            for item, _before, _why in files:
                if item["content"] is None:
                    tx.remove(item["dest"])
                else:
                    tx.write(item["dest"], item["content"], mode=item["mode"], owner=item["owner"], group=item["group"],
                             makedirs=True)

    failure = tx.run(change, lambda: _run_checks(run, changes))
    if failure:
        return [], failure
    failure = _load(run, changes)
    if failure:
        tx.rollback()
        _load(run, changes)  # the previous files, loaded again (a failure here is the same service's)
        return [], failure + "; the previous configuration was put back"
    return [entry["service"] for entry, _files in changes if entry["service"]], None


def start(run, services):
    """Start and enable services (one call); returns the failure or None."""
    if not services:
        return None
    rc, out, err = run(["systemctl", "enable", "--now", "--"] + list(services))
    return "systemctl enable --now %s failed: %s" % (" ".join(services), (err or out).strip()) if rc != 0 else None
