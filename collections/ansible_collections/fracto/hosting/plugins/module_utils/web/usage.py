# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Each client's disk use on a web host (files, logs, databases) against its package's disk_quota.

The platform's hosts (containers, overlay and most ext4 setups) have no per-user quota to enforce, so the use is
measured at every run and a client past its quota is reported to the operator (docs/state.md#disk-use). Pure
functions: the module (fracto.hosting.client_usage) runs du and MariaDB and hands their output here.
"""

from __future__ import annotations

from ansible_collections.fracto.hosting.plugins.module_utils import argguard as g
from ansible_collections.fracto.hosting.plugins.module_utils.db.mariadb import DB_NAME
from ansible_collections.fracto.hosting.plugins.module_utils.web.sites import WEB_ROOT, home_of, log_path

SCHEMA_SIZES = ("SELECT table_schema, COALESCE(SUM(data_length + index_length), 0) FROM information_schema.tables "
                "GROUP BY table_schema")


def check_args(users):
    """Refuse (argguard.Refused) a client, home, quota or database outside its rule; the paths are rebuilt from ids."""
    for i, user in enumerate(users):
        at = "users[%d]" % i
        client = g.client_id(at + ".client", user.get("client"))
        if user.get("home") != home_of(client):
            raise g.Refused(at + ".home", "a client's home is %s/<client id>" % WEB_ROOT, user.get("home"))
        quota = user.get("disk_quota")
        if quota is not None and (isinstance(quota, bool) or not isinstance(quota, int) or quota < 1):
            raise g.Refused(at + ".disk_quota", "a number of bytes, or none", quota)
        g.string_list(at + ".databases", user.get("databases", []),
                      lambda option, name: g.want(option, name, DB_NAME, "a database name is [a-z0-9_]{1,64}"))


def paths_of(client):
    """The directories measured for a client: its home and its log directory (outside the home, root's)."""
    return {"files": home_of(client), "logs": log_path(client)}


def parse_du(output):
    """{path: bytes} from `du -s -B1` output lines (<bytes>\\t<path>)."""
    sizes = {}
    for line in output.splitlines():
        size, sep, path = line.partition("\t")
        if sep and size.isdigit():
            sizes[path] = int(size)
    return sizes


def parse_schema_sizes(output):
    """{database: bytes} from the batch output of SCHEMA_SIZES."""
    sizes = {}
    for line in output.splitlines():
        name, sep, size = line.partition("\t")
        if sep and size.strip().isdigit():
            sizes[name] = int(size.strip())
    return sizes


def human(size):
    """A size for a person: 1536 -> '1.5 KiB'."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return ("%d %s" % (value, unit)) if unit == "B" else ("%.1f %s" % (value, unit))
        value /= 1024
    return "%d B" % size  # not reached


def usage(users, du_sizes, db_sizes):
    """({client: {files, logs, databases {name: bytes}, total, quota}}, {client: reason} of those past their quota)."""
    found, over = {}, {}
    for user in users:
        client = user["client"]
        paths = paths_of(client)
        dbs = {name: db_sizes.get(name, 0) for name in user.get("databases", [])}
        entry = {"files": du_sizes.get(paths["files"], 0), "logs": du_sizes.get(paths["logs"], 0), "databases": dbs,
                 "quota": user.get("disk_quota")}
        entry["total"] = entry["files"] + entry["logs"] + sum(dbs.values())
        found[client] = entry
        if entry["quota"] and entry["total"] > entry["quota"]:
            over[client] = "uses %s of its %s (%s)" % (human(entry["total"]), human(entry["quota"]), breakdown(entry))
    return found, over


def breakdown(entry):
    return "files %s, logs %s, databases %s" % (human(entry["files"]), human(entry["logs"]), human(sum(entry["databases"].values())))


def line(entry):
    """The report's line of a client's disk use."""
    of = " of %s" % human(entry["quota"]) if entry.get("quota") else ""
    return "disk: %s%s (%s)" % (human(entry["total"]), of, breakdown(entry))
