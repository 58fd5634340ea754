# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The rsync command of a site copy (pulled by the target over SSH, received as the client) and what its itemized
output says.

The old site is hostile content: no device, special file, owner, group, permission or setuid bit comes from it,
symlinks pointing out of the tree are left out, and the receiving rsync runs as the client's system user, so that
whatever path the client changes in its own tree during the copy, nothing is written where the client cannot write.
"""

from __future__ import annotations

import shlex

# Permissions of what is received (the client's home is setgid www-data: nginx reads through the group).
DIR_MODE = 0o2750
FILE_MODE = 0o640
TIMEOUT = 600


def ssh_command(key, known_hosts, port=22, timeout=10):
    """The ssh of every migration connection: its own key, the pinned host keys only, no user config, no prompt.

    StrictHostKeyChecking=yes: a host whose key is not in known_hosts (managed from the platform inventory's
    fracto_ssh_known_hosts) is refused, never recorded on first use."""
    return ["ssh", "-F", "/dev/null", "-i", key, "-p", str(int(port)), "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes",
            "-o", "ConnectTimeout=%d" % timeout, "-o", "ServerAliveInterval=15", "-o", "ServerAliveCountMax=4",
            "-o", "StrictHostKeyChecking=yes", "-o", "UpdateHostKeys=no", "-o", "GlobalKnownHostsFile=/dev/null",
            "-o", "UserKnownHostsFile=%s" % known_hosts, "-o", "ClearAllForwardings=yes", "-o", "PermitLocalCommand=no"]


def rsync_command(source, dest, key, known_hosts, owner, excludes=(), dry_run=False, port=22):
    """Pull the old site into <dest>/ as the client, deltas only, mirrored (deletions included).

    The old host's key is restricted to `rrsync -ro <site directory>`: the remote path is the root of that
    directory ("./"). The receiving rsync runs as owner (runuser), with --no-perms, --no-owner, --no-group,
    --no-devices, --no-specials, --safe-links: new files get 0640 and directories 0750 whatever their mode on the old
    host (no setuid, no device, no FIFO), symlinks leaving the tree are skipped.

    Excluded files (the site's config, rewritten apart) are neither copied nor deleted on the target.
    """
    rsh = " ".join(shlex.quote(p) for p in ssh_command(key, known_hosts, port))
    command = ["runuser", "-u", owner, "--", "rsync", "--recursive", "--links", "--safe-links", "--times",
               "--no-perms", "--chmod=D%o,F%o" % (DIR_MODE & 0o777, FILE_MODE), "--no-owner", "--no-group",
               "--no-devices", "--no-specials", "--no-hard-links", "--no-acls", "--no-xattrs",
               "--delete", "--itemize-changes", "--human-readable", "--stats", "--timeout=%d" % TIMEOUT, "--rsh=%s" % rsh]
    for pattern in excludes:
        command.append("--exclude=/%s" % pattern.lstrip("/"))
    if dry_run:
        command.append("--dry-run")
    command += ["--", "%s:./" % source, dest.rstrip("/") + "/"]
    return command


def parse_itemized(output):
    """{"copied": [...], "created": [...], "deleted": [...], "attributes": [...]} from rsync -i output."""
    result = {"copied": [], "created": [], "deleted": [], "attributes": []}
    for line in output.splitlines():
        if line.startswith("*deleting"):
            result["deleted"].append(line.split(None, 1)[1].strip())
            continue
        if len(line) < 13 or line[11] != " " or line[0] not in "<>ch.*" or line[1] not in "fdLDS":
            continue
        flags, name = line[:11], line[12:]
        if name in ("./", "."):
            continue
        if flags[0] in "<>" and flags[1] == "f":
            result["copied"].append(name)
        elif flags[0] == "c":
            result["created"].append(name)
        elif flags[0] == "." and flags[2:].strip("."):
            result["attributes"].append(name)
    return result


def changes(result, client, dest, source):
    """Ledger entries of a copy: one per site, every copied, created and deleted file in its detail."""
    detail = ["+ %s" % n for n in result["created"]] + ["~ %s" % n for n in result["copied"]]
    detail += ["- %s" % n for n in result["deleted"]] + ["attributes %s" % n for n in result["attributes"]]
    if not detail:
        return []
    return [{"action": "change", "kind": "site_files", "id": dest, "client": client,
             "detail": ["from %s" % source] + detail}]
