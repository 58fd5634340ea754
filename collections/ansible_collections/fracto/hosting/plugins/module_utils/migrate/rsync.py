# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The rsync command of a site copy (pulled by the target over SSH) and what its itemized output says."""

from __future__ import annotations

import shlex


def ssh_command(key, known_hosts, port=22, timeout=10):
    """The ssh of every migration connection: its own key and known_hosts, never a password prompt."""
    return ["ssh", "-i", key, "-p", str(port), "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes",
            "-o", "ConnectTimeout=%d" % timeout, "-o", "StrictHostKeyChecking=accept-new",
            "-o", "UserKnownHostsFile=%s" % known_hosts]


def rsync_command(source, path, dest, key, known_hosts, owner, group, excludes=(), dry_run=False, port=22):
    """Pull <source>:<path>/ into <dest>/, deltas only, owned by the client, mirrored (deletions included).

    Directories are setgid www-data like the client's home, so what the client creates later stays readable by nginx.

    Excluded files (the site's config, rewritten apart) are neither copied nor deleted on the target.
    """
    command = ["rsync", "--archive", "--delete", "--itemize-changes", "--human-readable", "--stats",
               "--chown=%s:%s" % (owner, group), "--chmod=D2750,F0640",
               "--rsh=%s" % " ".join(shlex.quote(p) for p in ssh_command(key, known_hosts, port))]
    for pattern in excludes:
        command.append("--exclude=/%s" % pattern.lstrip("/"))
    if dry_run:
        command.append("--dry-run")
    command += ["%s:%s/" % (source, path.rstrip("/")), dest.rstrip("/") + "/"]
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
