# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a restore takes from a snapshot and where it goes: one client's site (or a path of it), one database,
one mailbox (or one folder of it); and how it gets there without root acting in a tenant's tree.

fracto.hosting.backup_restore runs restic. A restore never writes into a tenant's tree as root:

1. ``restic restore`` into a fresh root-only staging directory (0700, outside every tenant tree);
2. the staging copy is streamed as a tar archive built here (stream_tree): regular files, directories and symlinks
   that stay inside the tree only; no owner, group, setuid, setgid or sticky bit; no device, FIFO or socket;
3. the archive is extracted by ``tar`` running as the client's own user (extract_argv: setpriv to its uid/gid,
   no supplementary groups, no new privileges), so a path the tenant changed can only lead where the tenant
   could write anyway;
4. a database dump is imported by ``mariadb`` as the client's database user, the process itself running as the
   client's system user (import_argv).
"""

from __future__ import annotations

import json
import os
import posixpath
import re
import stat
import tarfile

SIDES = {"files": "web", "database": "web", "mailbox": "mail"}
FOLDER = re.compile(r"[^./\x00-\x1f\x7f][^\x00-\x1f\x7f]*")
ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
SNAPSHOT = re.compile(r"latest|[0-9a-f]{4,64}")
DB_USER = re.compile(r"[A-Za-z0-9_]{1,80}")
STAGING_ROOT = "/var/lib/fracto/backup/restore"


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
    if any(p in ("", ".", "..") or any(ord(c) < 0x20 or c == "\x7f" for c in p) for p in parts):
        raise RestoreError("path %r must be relative to the client's home, without . or .." % relative)
    return posixpath.join(base, *parts)


def maildir_folder(folder):
    """The Maildir++ directory of an IMAP folder ("Archive/2024" -> ".Archive.2024"); INBOX is the Maildir itself."""
    if not folder:
        return None
    if folder.upper() == "INBOX":
        raise RestoreError("folder INBOX is the mailbox itself: restore the whole mailbox (no folder)")
    if not FOLDER.fullmatch(folder) or "//" in folder or folder.endswith("/") or "/." in folder:
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


def locate(restic, job, side, plan, wanted):
    """(snapshot, entries): the snapshot of the job's client and side named by wanted, and what it holds at the
    plan's path. restic is the job's Restic (runner.py). Raises RestoreError when the path is not in it."""
    tags = "client=%s,side=%s" % (job["client"], side)
    listing = restic("snapshots", "--json", "--tag=%s" % tags)
    snapshot = choose_snapshot(parse_snapshots(listing.stdout), wanted, "client %s (%s side)" % (job["client"], side))
    found = entries_under(restic(*restic_ls_args(snapshot["id"])).stdout, plan["include"])
    if not found:
        raise RestoreError("%s is not in snapshot %s (%s)" % (plan["include"], snapshot.get("short_id"), snapshot.get("time", "")[:19]))
    return snapshot, found


# --- parameters --------------------------------------------------------------------------------------------------

def check_params(reseller, client, snapshot):
    """Problems of the ids and snapshot a restore names (whole-value matches; they name files and restic args)."""
    problems = []
    if not isinstance(reseller, str) or not ID.fullmatch(reseller):
        problems.append("reseller: refused (%s)" % ID.pattern)
    if not isinstance(client, str) or not ID.fullmatch(client):
        problems.append("client: refused (%s)" % ID.pattern)
    if not isinstance(snapshot, str) or not SNAPSHOT.fullmatch(snapshot):
        problems.append("snapshot: latest or a snapshot id (4 to 64 hexadecimal digits)")
    return problems


def under(root, path):
    root, path = posixpath.normpath(root), posixpath.normpath(path)
    return posixpath.isabs(path) and posixpath.commonpath([root, path]) == root


def staging_problem(staging_root, tenant_roots):
    """The staging area must be an absolute path outside (and not above) every tenant tree."""
    if not posixpath.isabs(staging_root or ""):
        return "staging_dir must be an absolute path"
    for root in tenant_roots:
        if under(root, staging_root) or under(staging_root, root):
            return "staging_dir %s must be outside the tenants' tree %s" % (staging_root, root)
    return None


def dest_problem(dest, tenant_roots, staging_root):
    """A side path to restore into must be absolute, outside (and not above) every tenant tree and the staging area."""
    if dest and (not posixpath.isabs(dest) or any(under(root, dest) or under(dest, root) for root in list(tenant_roots) + [staging_root])):
        return "dest: a side path outside the tenants' trees and the staging area"
    return None


def restore_problems(params):
    """Every problem of backup_restore's parameters (ids, snapshot, staging area, side path), found before anything is read."""
    problems = check_params(params["reseller"], params["client"], params["snapshot"])
    tenant_roots = [params["web_root"], params["vmail_home"]]
    for problem in (staging_problem(params["staging_dir"], tenant_roots), dest_problem(params["dest"], tenant_roots, params["staging_dir"])):
        if problem:
            problems.append(problem)
    return problems


def restic_restore_args(snapshot_id, target, include):
    """restic restore of one path of a snapshot into target; options as --name=value, "--" before the snapshot id."""
    if not re.fullmatch(r"[0-9a-f]{8,64}", snapshot_id or ""):
        raise RestoreError("snapshot id refused")
    return ["restore", "--target=%s" % target, "--include=%s" % include, "--", snapshot_id]


def restic_ls_args(snapshot_id):
    if not re.fullmatch(r"[0-9a-f]{8,64}", snapshot_id or ""):
        raise RestoreError("snapshot id refused")
    return ["ls", "--json", "--", snapshot_id]


# --- the copy into the tenant's tree, as the tenant ---------------------------------------------------------------

def _inside_link(name, linkname):
    """True when a symlink member name -> linkname resolves (lexically) inside the archive's tree."""
    if not linkname or linkname.startswith("/"):
        return False
    target = posixpath.normpath(posixpath.join(posixpath.dirname(name), linkname))
    return target != ".." and not target.startswith("../") and not posixpath.isabs(target)


def member_filter(member, allow_symlinks=True):
    """The tar member as it may reach a tenant's tree, or None to leave it out.

    Regular files and directories keep their permission bits without setuid, setgid and sticky; owner and group
    are cleared (the extracting user owns what it writes); symlinks only when allowed and inside the tree;
    hard links only to a member inside the tree; devices, FIFOs and sockets never.
    """
    if member.isdev() or member.isfifo() or not (member.isreg() or member.isdir() or member.issym() or member.islnk()):
        return None
    name = posixpath.normpath(member.name)
    if name == ".." or name.startswith("../") or posixpath.isabs(member.name):
        return None
    if member.issym() and (not allow_symlinks or not _inside_link(member.name, member.linkname)):
        return None
    if member.islnk() and not _inside_link(".", member.linkname):
        return None
    member.mode &= 0o777
    member.uid = member.gid = 0
    member.uname = member.gname = ""
    return member


def stream_tree(source, arcname, fileobj, allow_symlinks=True):
    """Write the tree at source (in the root-only staging area) as a tar stream to fileobj, member names under
    arcname (relative), through member_filter. Returns the number of members written and left out."""
    counts = {"written": 0, "left_out": 0}

    def keep(member):
        kept = member_filter(member, allow_symlinks)
        counts["written" if kept is not None else "left_out"] += 1
        return kept

    with tarfile.open(fileobj=fileobj, mode="w|", format=tarfile.PAX_FORMAT, dereference=False) as archive:
        archive.add(source, arcname=arcname or ".", recursive=True, filter=keep)
    return counts


def drop_privileges_argv(uid, gid):
    """setpriv to a tenant's uid and gid, no supplementary groups, no new privileges (never root)."""
    for value in (uid, gid):
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise RestoreError("the target owner must be an unprivileged user (uid and gid above 0)")
    return ["setpriv", "--reuid=%d" % uid, "--regid=%d" % gid, "--clear-groups", "--no-new-privs", "--"]


def extract_argv(uid, gid, directory):
    """tar, as the tenant, extracting a stream into directory: no owners, the tenant's umask, existing directories'
    metadata kept."""
    return drop_privileges_argv(uid, gid) + [
        "tar", "--extract", "--file=-", "--directory=%s" % directory, "--no-same-owner", "--no-same-permissions",
        "--no-overwrite-dir"]


def mkdir_argv(uid, gid, directory):
    return drop_privileges_argv(uid, gid) + ["mkdir", "-p", "--", directory]


def import_argv(uid, gid, database, db_user):
    """mariadb importing a dump from stdin as the client's database user (its password comes in MYSQL_PWD), the
    process itself running as the client's system user (a "\\! command" of the dump runs as the client)."""
    if not re.fullmatch(r"[A-Za-z0-9_]{1,64}", database or ""):
        raise RestoreError("database name refused")
    if not isinstance(db_user, str) or not DB_USER.fullmatch(db_user) or db_user.lower() in ("root", "mysql", "mariadb.sys"):
        raise RestoreError("db_user: the client's own database user (letters, digits, _), never root")
    return drop_privileges_argv(uid, gid) + ["mariadb", "--user=%s" % db_user, "--database=%s" % database, "--batch"]


def sanitize_staging(root):
    """Make the staging copy safe to hand over even to root's own tools: remove devices, FIFOs and sockets, clear
    setuid/setgid/sticky bits. Never follows a symlink (the staging tree is root's own, 0700)."""
    removed = 0
    for directory, dirs, files in os.walk(root, followlinks=False):
        for name in dirs + files:
            path = os.path.join(directory, name)
            info = os.lstat(path)
            if stat.S_ISLNK(info.st_mode):
                continue
            if not (stat.S_ISREG(info.st_mode) or stat.S_ISDIR(info.st_mode)):
                os.unlink(path)
                removed += 1
            elif info.st_mode & 0o7000:
                os.chmod(path, stat.S_IMODE(info.st_mode) & 0o777)
    return removed
