# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Gather the changes every host reported and print them per client, then write them as JSON.

What is printed and written is built in module_utils/run_report.py.
"""

from __future__ import annotations

import datetime
import json

from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.action import ActionBase
from ansible_collections.fracto.hosting.plugins.module_utils import run_report
from ansible_collections.fracto.hosting.plugins.module_utils.ledger import group_by_client
from ansible_collections.fracto.hosting.plugins.module_utils.mail import dns_check, dns_records
from ansible_collections.fracto.hosting.plugins.module_utils.reports import ReportWriter
from ansible_collections.fracto.hosting.plugins.module_utils.secrets import redact, redact_url


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("dest", "state", "hosts", "dns_check", "nameservers"))
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        del tmp
        state = self._task.args.get("state") or {}
        dest = self._task.args.get("dest")
        hosts = self._task.args.get("hosts") or list(task_vars.get("groups", {}).get("all", []))
        check = bool(task_vars.get("ansible_check_mode", False))
        by_host, attention = run_report.collect(task_vars.get("hostvars", {}), hosts)
        grouped = group_by_client(by_host)
        mode = "plan" if check else "report"
        reseller = (state.get("reseller") or {}).get("name", "reseller")
        lines, counts = run_report.change_lines(grouped, check, reseller, datetime.datetime.now(datetime.timezone.utc))
        # The DKIM keys are made on the mail hosts: their records are known once the hosts returned them.
        mail_dns = dns_records.with_dkim(state.get("mail_dns") or [], run_report.dkim_keys(task_vars.get("hostvars", {}), hosts))
        notes = run_report.attention_notes(attention, state) + self._mail_dns_notes(mail_dns)
        lines += run_report.attention_lines(notes)
        summary = run_report.disk_usage(task_vars.get("hostvars", {}), hosts, run_report.services(state))
        # What a module reported is printed and stored with URLs redacted.
        document = run_report.document(mode, reseller, check, counts, redact(grouped), summary, redact(notes), mail_dns)
        if dest:
            writer = ReportWriter(dest)
            path = writer.write("%s-%s.json" % (mode, reseller), json.dumps(document, indent=2, sort_keys=True))
            result.update(writer.result(), path=path)
            lines.append("written to %s" % path)
        lines += run_report.service_lines(summary)
        lines += dns_records.lines(mail_dns, {cid: c.get("features", {}).get("mail_branding")
                                              for cid, c in (state.get("clients") or {}).items()})
        lines = [redact_url(line) for line in lines]
        for line in lines:
            self._display.display(line)
        result.update(changed=False, counts=counts, plan=document["clients"], mail_dns=mail_dns, attention=document["attention"],
                      msg="\n".join(lines))
        return result

    def _mail_dns_notes(self, records):
        """The live check of the mail DNS records (dns_check=true) as "needs attention" notes; never fatal."""
        if not boolean(self._task.args.get("dns_check", False), strict=False) or not records:
            return []
        try:
            lookup = dns_check.resolver_lookup(self._task.args.get("nameservers") or None)
        except dns_check.LookupFailed as exc:
            return [{"host": "dns", "client": dns_records.RESELLER, "what": "not done", "item": "mail DNS check",
                     "detail": str(exc)}]
        return [dict(finding, host="dns") for finding in dns_check.check(records, lookup)]
