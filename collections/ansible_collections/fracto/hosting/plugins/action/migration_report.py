# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Print the report of every migrated site and write it per site as text and JSON on the controller."""

from __future__ import annotations

import json

from ansible.plugins.action import ActionBase
from ansible_collections.fracto.hosting.plugins.module_utils.migrate.report import document, format_site, outdated
from ansible_collections.fracto.hosting.plugins.module_utils.reports import ReportWriter
from ansible_collections.fracto.hosting.plugins.module_utils.secrets import redact, redact_url


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("sites", "dest"))
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        del tmp
        sites = self._task.args.get("sites") or []
        dest = self._task.args.get("dest")
        check = bool(task_vars.get("ansible_check_mode", False))
        lines, failed, old, live = [], {}, {}, {}
        writer = ReportWriter(dest) if dest else None
        if not sites:
            lines.append("no site to migrate")
        for site in sorted(sites, key=lambda s: s.get("client", "")):
            site = dict(site, check_mode=check)
            block = [redact_url(line) for line in format_site(site)]
            lines.extend(block)
            if site.get("status") == "failed":
                failed[site["client"]] = site.get("failed_step")
            if site.get("status") == "cut_over":
                live[site["client"]] = site.get("cut_over_at")
            if outdated(site):
                old[site["client"]] = outdated(site)
            if writer:
                stem = "migration-%s%s" % ("plan-" if check else "", site["client"])
                writer.write(stem + ".json", json.dumps(redact(document(site)), indent=2, sort_keys=True))
                writer.write(stem + ".txt", "\n".join(block) + "\n")
        if writer and writer.paths:
            lines.append("written to %s" % ", ".join(p for p in writer.paths if p.endswith(".json")))
        for line in lines:
            self._display.display(line)
        result.update(changed=False, failed_sites=failed, outdated=old, cut_over=live, msg="\n".join(lines))
        if writer:
            result.update(writer.result(), paths=writer.paths)
        return result
