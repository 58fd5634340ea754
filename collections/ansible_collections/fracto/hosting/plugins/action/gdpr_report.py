# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Probe every client's names and mail names from the controller, judge the evidence and write the GDPR report."""

from __future__ import annotations

import concurrent.futures
import datetime
import json
import os

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.plugins.action import ActionBase
from ansible_collections.fracto.hosting.plugins.module_utils.files import write_in
from ansible_collections.fracto.hosting.plugins.module_utils.gdpr import evaluate, probes
from ansible_collections.fracto.hosting.plugins.module_utils.gdpr import report as gdpr_report
from ansible_collections.fracto.hosting.plugins.module_utils.secrets import redact, redact_url

ARGUMENT_SPEC = {
    "state": {"type": "dict", "required": True},
    "evidence": {"type": "dict", "default": {}},
    "jobs": {"type": "dict"},
    "addresses": {"type": "dict", "default": {}},
    "ca_bundle": {"type": "path"},
    "dest": {"type": "path"},
    "clients": {"type": "list", "elements": "str"},
    "hsts_min_age": {"type": "int", "default": evaluate.HSTS_MIN_AGE},
    "max_backup_age_hours": {"type": "int", "default": evaluate.BACKUP_MAX_AGE_HOURS},
    "timeout": {"type": "float", "default": 10.0},
}


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(ARGUMENT_SPEC)
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        del tmp
        validation = ArgumentSpecValidator(ARGUMENT_SPEC).validate(self._task.args)
        if validation.error_messages:
            raise AnsibleActionFail("; ".join(validation.error_messages))
        args = validation.validated_parameters
        state = args["state"]
        ca_bundle = args["ca_bundle"]
        if ca_bundle and not os.path.isfile(ca_bundle):
            raise AnsibleActionFail("ca_bundle %s: no such file (a PEM bundle of the trust anchors)" % ca_bundle)
        clients = state.get("clients") or {}
        wanted = args["clients"]
        if wanted:
            unknown = sorted(set(wanted) - set(clients))
            if unknown:
                raise AnsibleActionFail("clients: %s not in the state (clients: %s)" % (", ".join(unknown), ", ".join(sorted(clients))))
            clients = {cid: clients[cid] for cid in wanted}
        dns = state.get("dns") or {}
        addresses = args["addresses"]
        timeout = args["timeout"]

        # One probe per (address, name), shared by every client that uses it (a reseller's mail name, for example).
        web_targets, mail_targets = {}, {}
        for client in clients.values():
            for name in evaluate.web_names(client):
                address = evaluate.address_of(name, dns, addresses)
                if address:
                    web_targets[name] = address
            for name in client.get("mail_names") or []:
                address = evaluate.address_of(name, dns, addresses)
                if address:
                    mail_targets[name] = address
        found = {"https": {}, "http": {}, "mail": {}}
        with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
            futures = {}
            for name, address in web_targets.items():
                futures[pool.submit(probes.probe_https, address, name, ca_bundle, timeout)] = ("https", name)
                futures[pool.submit(probes.probe_http, address, name, timeout)] = ("http", name)
            for name, address in mail_targets.items():
                futures[pool.submit(probes.probe_mail, address, name, ca_bundle, timeout)] = ("mail", name)
            for future in concurrent.futures.as_completed(futures):
                kind, name = futures[future]
                found[kind][name] = future.result()

        evidence = args["evidence"]
        records = []
        for host, host_result in sorted(evidence.items()):
            for record in (host_result or {}).get("records") or []:
                records.append(dict(record, host=host))
        jobs = None
        if args["jobs"] is not None:
            jobs = []
            for host, names in sorted(args["jobs"].items()):
                for job in names or []:
                    client, _dot, side = str(job).rpartition(".")
                    jobs.append({"client": client, "side": side, "host": host})
        now = datetime.datetime.now(datetime.timezone.utc)
        verdicts = []
        for cid, client in sorted(clients.items()):
            mail_config = ((evidence.get(client.get("mail_host")) or {}).get("mail_settings")) or None
            verdicts.append(evaluate.evaluate_client(cid, client, found, records, now, jobs=jobs, mail_config=mail_config,
                                                     hsts_min_age=args["hsts_min_age"],
                                                     max_age_hours=args["max_backup_age_hours"]))
        reseller = (state.get("reseller") or {}).get("name", "reseller")
        settings = {"ca_bundle": ca_bundle, "hsts_min_age": args["hsts_min_age"],
                    "max_backup_age_hours": args["max_backup_age_hours"], "addresses": addresses,
                    "check_mode": bool(task_vars.get("ansible_check_mode", False))}
        doc = redact(gdpr_report.document(reseller, verdicts, now.strftime("%Y-%m-%dT%H:%M:%SZ"), settings))
        lines = [redact_url(line) for line in gdpr_report.summary_lines(doc)]
        paths = []
        if args["dest"]:
            dest = os.path.abspath(os.path.expanduser(args["dest"]))
            os.makedirs(dest, exist_ok=True)
            paths.append(write_in(dest, "gdpr-%s.json" % reseller, json.dumps(doc, indent=2, sort_keys=True) + "\n"))
            paths.append(write_in(dest, "gdpr-%s.md" % reseller, gdpr_report.markdown(doc)))
            lines.append("written to %s" % ", ".join(paths))
        for line in lines:
            self._display.display(line)
        result.update(changed=False, compliant=doc["summary"]["compliant"], not_compliant=doc["summary"]["not_compliant"],
                      failures=evaluate.failures(verdicts), msg="\n".join(lines))
        if paths:
            result["paths"] = paths
        return result
