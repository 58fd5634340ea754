# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Gather the changes every host reported and print them per client, then write them as JSON."""

from __future__ import annotations

import datetime
import json
import os

from ansible.plugins.action import ActionBase
from ansible_collections.fracto.hosting.plugins.module_utils.files import write_atomic
from ansible_collections.fracto.hosting.plugins.module_utils.ledger import format_change, group_by_client
from ansible_collections.fracto.hosting.plugins.module_utils.secrets import redact, redact_url

RESULT_MARK = "__result"
# Result keys that name something an operator must look at: {name or id: reason}.
ATTENTION = {
    "skipped_names": "left out of its certificate",
    "coverage_reduced": "coverage reduced",
    "rate_limited": "rate limited by the CA",
    "refused": "refused",
    "failed_orders": "order failed",
    "rdns_mismatch": "reverse DNS does not match its HELO name",
}


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("dest", "state", "hosts"))
    _requires_connection = False

    def _collect(self, task_vars, hosts, attention):
        """{host: [change]} from every result registered as <role>__result[_<concern>] on every host.

        What needs an operator's attention (names left out, coverage reduced, rate limits, refusals)
        is appended to attention as (host, kind, name or id, reason).
        """
        by_host = {}
        hostvars = task_vars.get("hostvars", {})
        for host in hosts:
            host_vars = hostvars.get(host, {})
            seen = set()
            # The record of desired state (fracto_base) comes last: a capability's own line wins.
            names = sorted((k for k in host_vars.keys() if RESULT_MARK in k), key=lambda k: (k.startswith("fracto_base__"), k))
            for name in names:
                value = host_vars[name]
                if isinstance(value, dict):
                    for key in ATTENTION:
                        for item, reason in (value.get(key) or {}).items():
                            attention.append((host, key, item, reason))
                if isinstance(value, dict) and isinstance(value.get("changes"), list):
                    for change in value["changes"]:
                        key = (change.get("action"), change.get("kind"), change.get("id"))
                        if key not in seen:
                            seen.add(key)
                            by_host.setdefault(host, []).append(change)
        return by_host

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        del tmp
        state = self._task.args.get("state") or {}
        dest = self._task.args.get("dest")
        hosts = self._task.args.get("hosts") or list(task_vars.get("groups", {}).get("all", []))
        check = bool(task_vars.get("ansible_check_mode", False))
        attention = []
        by_host = self._collect(task_vars, hosts, attention)
        grouped = group_by_client(by_host)
        mode = "plan" if check else "report"
        reseller = (state.get("reseller") or {}).get("name", "reseller")
        lines = ["%s of reseller %s (%s)" % ("PLAN (check mode: nothing was changed)" if check else "REPORT", reseller,
                                             datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"))]
        counts = {"create": 0, "change": 0, "remove": 0, "keep": 0}
        for client, changes in grouped.items():
            lines.append("client %s:" % client)
            for change in changes:
                counts[change["action"]] += 1
                lines.append("  %s   [%s]" % (format_change(change), change["host"]))
        if not grouped:
            lines.append("no change: every host already has its desired state")
        lines.append("%(create)d to create, %(change)d to change, %(remove)d to remove, %(keep)d kept (prune off)" % counts)
        owners = {name: cid for cid, client in (state.get("clients") or {}).items() for name in client.get("names", [])}
        notes = []
        for host, key, item, reason in attention:
            client = owners.get(item) or next((cid for cid in sorted(state.get("clients") or {}, key=len, reverse=True)
                                               if str(item).startswith(cid + "-")), "(reseller)")
            detail = reason if isinstance(reason, str) else ", ".join(str(r) for r in reason) if isinstance(reason, list) else str(reason)
            notes.append({"host": host, "client": client, "what": ATTENTION[key], "item": item, "detail": detail})
        if notes:
            lines.append("needs attention:")
            for note in notes:
                lines.append("  ! %(client)s: %(item)s %(what)s: %(detail)s   [%(host)s]" % note)
        summary = self._summary(state)
        grouped = redact(grouped)  # what a module reported is printed and stored with URLs redacted
        notes = redact(notes)
        document = {
            "kind": mode, "reseller": reseller, "check_mode": check, "counts": counts,
            "clients": {client: [dict(c, line=format_change(c)) for c in changes] for client, changes in grouped.items()},
            "services": summary, "attention": notes,
        }
        if dest:
            dest = os.path.abspath(os.path.expanduser(str(dest)))
            os.makedirs(dest, exist_ok=True)
            path = os.path.join(dest, "%s-%s.json" % (mode, reseller))
            write_atomic(path, json.dumps(document, indent=2, sort_keys=True))
            result["path"] = path
            lines.append("written to %s" % path)
        if summary:
            lines.append("")
            lines.append("clients and the names they are served at:")
            for cid, info in summary.items():
                lines.append("  %s (package %s%s): %s" % (cid, info["package"], ", GDPR" if info["gdpr"] else "",
                                                          " ".join(info["urls"])))
                if info["mail"]:
                    lines.append("    mail: %s" % " ".join(info["mail"]))
        lines = [redact_url(line) for line in lines]
        for line in lines:
            self._display.display(line)
        result.update(changed=False, counts=counts, plan=document["clients"], msg="\n".join(lines))
        return result

    @staticmethod
    def _summary(state):
        services = {}
        for cid, client in sorted((state.get("clients") or {}).items()):
            scheme = "https" if client["features"]["autossl"] else "http"
            urls = ["%s://%s/" % (scheme, name) for name in client["names"]]
            urls += ["https://%s/" % name for name in client["webmail_names"]]
            mail = ["imaps://%s" % name for name in client["mail_names"]]
            services[cid] = {"package": client["package"], "gdpr": client["gdpr"], "urls": urls, "mail": mail,
                             "mailboxes": client["mailboxes"]}
        return services
