# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What fracto.hosting.site_inspect finds out about an old site on its host: who owns it, how big it is, what it
runs (CMS, PHP, configuration files) and how big its database is.

The site's files are read by the module as their owner (clientfs.py); what is decided from them is decided here,
through a callable read(relative_path) -> text or None, as in cms.py.
"""

from __future__ import annotations

import os
import pwd

from ansible_collections.fracto.hosting.plugins.module_utils.migrate import htaccess
from ansible_collections.fracto.hosting.plugins.module_utils.migrate.cms import CONFIG_FILES, SIGNATURES, assess, detect_cms, php_range
from ansible_collections.fracto.hosting.plugins.module_utils.migrate.config import public_settings
from ansible_collections.fracto.hosting.plugins.module_utils.migrate.step import InvalidValue

READ_LIMIT = 512 * 1024  # bytes of each file read for the CMS and configuration checks


def measure(root):
    """(size in bytes, number of files, whether any is a .php file, the .htaccess files' paths from root) of the tree."""
    size = files = 0
    uses_php = False
    rules = []
    for directory, dirs, names in os.walk(root):
        dirs.sort()
        for name in names:
            try:
                size += os.lstat(os.path.join(directory, name)).st_size
            except OSError:
                continue
            files += 1
            uses_php = uses_php or name.endswith(".php")
            if name == htaccess.NAME:
                rules.append(os.path.relpath(os.path.join(directory, name), root))
    return size, files, uses_php, rules


def htaccess_findings(root, rules, read_many, denied=()):
    """Findings of the site's .htaccess files (the first MAX_FILES, read through read_many(paths) -> {path: text});
    denied: the URL paths the new vhost denies."""
    texts = read_many([os.path.join(root, path) for path in rules[:htaccess.MAX_FILES]])
    return htaccess.review_all({os.path.relpath(path, root): text for path, text in texts.items()},
                               skipped=max(0, len(rules) - htaccess.MAX_FILES), denied=denied)


def site_owner(root, min_uid):
    """{uid, gid, name} of the site's directory; refuses a path through a symlink and a system account's directory."""
    if os.path.realpath(root) != root:
        raise InvalidValue("the source path %s goes through a symlink (it resolves to %s): refused" % (root, os.path.realpath(root)))
    info = os.lstat(root)
    try:
        name = pwd.getpwuid(info.st_uid).pw_name
    except KeyError:
        name = None
    if info.st_uid < max(min_uid, 1) or info.st_uid == 65534 or info.st_gid == 0:
        raise InvalidValue("the source path %s belongs to %s (uid %d), not to a client: refused" % (root, name or "?", info.st_uid))
    return {"uid": info.st_uid, "gid": info.st_gid, "name": name}


def files_to_read():
    """The files of the site's top directory the CMS detection and the configuration check read."""
    return sorted({path for _name, path, _fields in SIGNATURES} | {name for name, _kind in CONFIG_FILES})


def assess_site(read, uses_php, php_offered, php_target):
    """{cms, findings, config_files, php_range} of the site whose files read() gives."""
    cms = detect_cms(read)
    findings, need = assess(cms, php_offered, php_target)
    if cms is None and uses_php and not php_target:
        findings.append({"level": "warning", "text": "the site has PHP files but its vhost serves static files (php: false)"})
    configs = []
    for name, kind in CONFIG_FILES:
        text = read(name)
        if text is not None:
            configs.append({"file": name, "kind": kind, "settings": public_settings(text, kind)})
    return {"cms": cms, "findings": findings, "config_files": configs, "php_range": php_range(need) if cms else None}


def database_query(database):
    """The SQL that counts the schema (1 or 0), then the tables and bytes of the database (a checked name)."""
    query = ("SELECT COUNT(*), COALESCE(SUM(data_length + index_length), 0) FROM information_schema.tables "
             "WHERE table_schema = '%s'" % database)
    return "SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name = '%s'; %s" % (database, query)


def database_facts(database, output):
    """{name, tables, size_bytes} from the output of database_query(), None when the database does not exist."""
    rows = output.split()
    if not rows or rows[0] != "1":
        return None
    return {"name": database, "tables": int(rows[1]), "size_bytes": int(rows[2])}
