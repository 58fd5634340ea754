# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The dedicated IPv4 pool at a glance, on the controller (no host is contacted)."""

from __future__ import annotations

import json

from ansible_collections.fracto.hosting.plugins.action.client_state import ActionModule as ClientStateAction
from ansible_collections.fracto.hosting.plugins.module_utils.reports import ReportWriter
from ansible_collections.fracto.hosting.plugins.module_utils.state.pool import pool_table, pool_view, rdns_problems, system_lookups

try:
    import dns.resolver
    import dns.reversename

    HAS_DNSPYTHON = True
except ImportError:  # pragma: no cover - dnspython is in requirements.txt
    HAS_DNSPYTHON = False


def _lookups(nameservers):
    """(reverse, forward) through the given name servers (dnspython), or the controller's own resolver."""
    if nameservers and HAS_DNSPYTHON:
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers = [str(n) for n in nameservers]
        resolver.lifetime = 5

        def ask(name, rdtype):
            try:
                return [a.to_text() for a in resolver.resolve(name, rdtype)]
            except Exception:  # pylint: disable=broad-except  # NXDOMAIN, no answer, timeout: no record
                return []

        return (lambda ip: ask(dns.reversename.from_address(ip), "PTR")), (lambda name: ask(name, "A"))

    return system_lookups()


class ActionModule(ClientStateAction):
    _VALID_ARGS = frozenset(("dest", "show_free", "rdns", "nameservers"))

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super(ClientStateAction, self).run(tmp, task_vars)
        del tmp
        model = self._validated_model(task_vars, result)
        if model is None:
            return result
        view = pool_view(model)
        if self._task.args.get("rdns"):
            problems = rdns_problems(view, *_lookups(self._task.args.get("nameservers") or []))
            for item in view["addresses"]:
                if item.get("helo"):
                    item["rdns"] = problems.get(item["address"], "")
            # plan_report's key for what needs attention: the reverse DNS of a sending address is wrong.
            result["rdns_mismatch"] = problems
        text = pool_table(view, show_free=bool(self._task.args.get("show_free", False)))
        dest = self._task.args.get("dest")
        if dest:
            writer = ReportWriter(dest)
            path = writer.write("ip-pool-%s.json" % view["reseller"], json.dumps(view, indent=2, sort_keys=True))
            result.update(writer.result(), path=path)
            text += "\nwritten to %s" % path
        for line in text.splitlines():
            self._display.display(line)
        result.update(changed=False, pool=view, msg=text)
        return result
