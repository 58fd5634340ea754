#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: site_inspect
short_description: Preflight of a site migration, on the old host (size, CMS and version, PHP, config, database)
version_added: 1.0.0
description:
  - Runs on the source host of a migration and changes nothing there.
  - Measures the site (bytes and files), finds its CMS and version (WordPress, Joomla, Drupal), says whether that
    version is outdated (for example Joomla 2.5, end of life since 2014-12-31), which PHP versions it runs on
    compared with those the platform offers and the one its new vhost runs, and which config files
    (C(wp-config.php), Joomla's C(configuration.php)) carry its database settings.
  - With O(database), checks that the database exists on the source and measures it (root over the unix socket).
  - Fails with a clear message when the path does not exist or is not a directory.
extends_documentation_fragment:
  - fracto.hosting.read_only
options:
  path:
    description: The site's directory on this host.
    type: path
    required: true
  php_offered:
    description: The PHP versions the platform offers (C(fracto_platform.php_versions)).
    type: list
    elements: str
    default: []
  php_target:
    description: The PHP version of the vhost that receives the site; empty for a static vhost.
    type: str
  database:
    description: The site's database on this host.
    type: str
attributes:
  platform:
    support: full
    platforms: posix
    description: The old platform's hosts (any POSIX host with Python 3).
author:
  - fracto.hosting founding engineers (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Inspect the old site
  fracto.hosting.site_inspect:
    path: /home/cliente1/public_html
    php_offered: ["8.2"]
    php_target: "8.2"
    database: cliente1_db
  delegate_to: legacy01
"""

RETURN = r"""
size_bytes:
  description: Bytes of the site's files.
  returned: always
  type: int
files:
  description: Number of files.
  returned: always
  type: int
uses_php:
  description: Whether the site has PHP files.
  returned: always
  type: bool
cms:
  description: The CMS found, C({name, version, file}), or null.
  returned: always
  type: dict
php_range:
  description: The PHP versions the site runs on, as text (for example C(5.2.4 to 5.6)), or null when unknown.
  returned: always
  type: str
findings:
  description: What an operator must know, each C({level, text}); C(level) is C(outdated), C(warning) or C(info).
  returned: always
  type: list
  elements: dict
config_files:
  description: The config files with database settings, each C({file, kind, settings}); C(settings) never holds the password.
  returned: always
  type: list
  elements: dict
database:
  description: The source database, C({name, tables, size_bytes}), when O(database) is set.
  returned: when database is set
  type: dict
"""

import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.fracto.hosting.plugins.module_utils.migrate.cms import CONFIG_FILES, assess, detect_cms, php_range
from ansible_collections.fracto.hosting.plugins.module_utils.migrate.config import public_settings


def measure(root):
    size = files = 0
    uses_php = False
    for directory, _dirs, names in os.walk(root):
        for name in names:
            try:
                size += os.lstat(os.path.join(directory, name)).st_size
            except OSError:
                continue
            files += 1
            uses_php = uses_php or name.endswith(".php")
    return size, files, uses_php


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", required=True),
            php_offered=dict(type="list", elements="str", default=[]),
            php_target=dict(type="str"),
            database=dict(type="str"),
        ),
        supports_check_mode=True,
    )
    root = module.params["path"]
    if not os.path.exists(root):
        module.fail_json(msg="the source path %s does not exist" % root)
    if not os.path.isdir(root):
        module.fail_json(msg="the source path %s is not a directory" % root)

    def read(relative):
        try:
            with open(os.path.join(root, relative), encoding="utf-8", errors="replace") as handle:
                return handle.read(512 * 1024)
        except OSError:
            return None

    size, files, uses_php = measure(root)
    cms = detect_cms(read)
    findings, need = assess(cms, module.params["php_offered"], module.params["php_target"])
    if cms is None and uses_php and not module.params["php_target"]:
        findings.append({"level": "warning", "text": "the site has PHP files but its vhost serves static files (php: false)"})
    configs = []
    for name, kind in CONFIG_FILES:
        text = read(name)
        if text is not None:
            configs.append({"file": name, "kind": kind, "settings": public_settings(text, kind)})
    result = dict(changed=False, size_bytes=size, files=files, uses_php=uses_php, cms=cms, findings=findings, config_files=configs,
                  php_range=php_range(need) if cms else None)
    database = module.params["database"]
    if database:
        query = ("SELECT COUNT(*), COALESCE(SUM(data_length + index_length), 0) FROM information_schema.tables "
                 "WHERE table_schema = '%s'" % database.replace("\\", "\\\\").replace("'", "\\'"))
        rc, out, err = module.run_command(["mysql", "--batch", "--skip-column-names", "-e",
                                           "SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name = '%s'; %s"
                                           % (database.replace("\\", "\\\\").replace("'", "\\'"), query)])
        if rc != 0:
            module.fail_json(msg="cannot read the databases of the source as root: %s" % (err or out).strip(), **result)
        rows = out.split()
        if not rows or rows[0] != "1":
            module.fail_json(msg="the source database %s does not exist" % database, **result)
        result["database"] = {"name": database, "tables": int(rows[1]), "size_bytes": int(rows[2])}
    module.exit_json(**result)


if __name__ == "__main__":
    main()
