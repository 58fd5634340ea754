# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a restore takes from a snapshot and where it goes: one client's site (or a path of it), one database,
one mailbox (or one folder of it). Pure functions; fracto.hosting.backup_restore runs restic."""

from __future__ import annotations

import json
import posixpath
import re

SIDES = {"files": "web", "database": "web", "mailbox": "mail"}
FOLDER = re.compile(r"^[^./\x00-\x1f][^\x00-\x1f]*$")


class RestoreError(Exception):
    """A clear error for the operator: unknown client, snapshot, database, mailbox or path."""


def parse_snapshots(stdout):
    try:
        snapshots = json.loads(stdout or "[]")
    except ValueError:
        raise RestoreError("restic snapshots: unreadable output")
    return snapshots if isinstance(snapshots, list) else []


def choose_snapshot(snapshots, wanted, label):
    """The snapshot named by wanted ("latest", an id or an id prefix) among the job's snapshots."""
    if not snapshots:
        raise RestoreError("%s has no snapshot yet" % label)
    ordered = sorted(snapshots, key=lambda s: s.get("time", ""))
    if not wanted or wanted == "latest":
        return ordered[-1]
    matches = [s for s in ordered if s.get("id", "").startswith(wanted) or s.get("short_id") == wanted]
    if len(matches) == 1 and len(wanted) >= 4:
        return matches[0]
    available = ", ".join("%s (%s)" % (s.get("short_id") or s.get("id", "")[:8], s.get("time", "")[:19]) for s in ordered[-10:])
    if len(matches) > 1:
        raise RestoreError("snapshot %s of %s is ambiguous; give more of its id (recent: %s)" % (wanted, label, available))
    raise RestoreError("unknown snapshot %s of %s (recent: %s)" % (wanted, label, available))


def _inside(base, relative):
    relative = (relative or "").strip("/")
    if not relative:
        return base
    parts = relative.split("/")
    if any(p in ("", ".", "..") for p in parts):
        raise RestoreError("path %r must be relative to the client's home, without . or .." % relative)
    return posixpath.join(base, *parts)


def maildir_folder(folder):
    """The Maildir++ directory of an IMAP folder ("Archive/2024" -> ".Archive.2024"); INBOX is the Maildir itself."""
    if not folder:
        return None
    if folder.upper() == "INBOX":
        raise RestoreError("folder INBOX is the mailbox itself: restore the whole mailbox (no folder)")
    if not FOLDER.match(folder) or "//" in folder or folder.endswith("/"):
        raise RestoreError("folder %r is not an IMAP folder name (separator /)" % folder)
    return "." + folder.replace("/", ".")


def restore_plan(job, what, name=None, path=None, folder=None):
    """{"include": path in the snapshot, "label", "database"?, "mailbox"?} of one restore. Raises RestoreError."""
    label = "client %s" % job["client"]
    if what == "files":
        include = _inside(job["home"], path)
        return {"include": include, "label": "%s files %s" % (label, include)}
    if what == "database":
        if not name:
            raise RestoreError("name: which database of %s (%s)" % (label, ", ".join(job["databases"]) or "it has none"))
        if name not in job["databases"]:
            raise RestoreError("database %s is not one of %s (%s)" % (name, label, ", ".join(job["databases"]) or "it has none"))
        return {"include": posixpath.join(job["spool"], "%s.sql" % name), "label": "%s database %s" % (label, name),
                "database": name}
    if what == "mailbox":
        addresses = [m["address"] for m in job["mailboxes"]]
        if not name or name not in addresses:
            raise RestoreError("mailbox %s is not one of %s (%s)" % (name, label, ", ".join(addresses) or "it has none"))
        home = [m["home"] for m in job["mailboxes"] if m["address"] == name][0]
        include = posixpath.join(home, "Maildir")
        sub = maildir_folder(folder)
        if sub:
            include = posixpath.join(include, sub)
        return {"include": include, "label": "%s mailbox %s%s" % (label, name, " folder %s" % folder if folder else ""),
                "mailbox": name}
    raise RestoreError("what must be files, database or mailbox")


def entries_under(ls_stdout, include):
    """Paths of a restic ls --json listing at or under include."""
    found = []
    for line in (ls_stdout or "").splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            node = json.loads(line)
        except ValueError:
            continue
        node_path = node.get("path")
        if node.get("struct_type") == "node" and node_path and (node_path == include or node_path.startswith(include + "/")):
            found.append(node_path)
    return found
