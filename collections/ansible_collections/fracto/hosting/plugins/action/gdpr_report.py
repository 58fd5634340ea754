# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Probe every client's names and mail names from the controller, judge the evidence and write the GDPR report."""

from __future__ import annotations

import datetime
import json
import os

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.plugins.action import ActionBase
from ansible_collections.fracto.hosting.plugins.module_utils.gdpr import evaluate, gather
from ansible_collections.fracto.hosting.plugins.module_utils.gdpr import report as gdpr_report
from ansible_collections.fracto.hosting.plugins.module_utils.reports import ReportWriter
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
        args = self._arguments()
        state, ca_bundle, evidence = args["state"], args["ca_bundle"], args["evidence"]
        clients = self._clients(state, args["clients"])
        web_targets, mail_targets = gather.probe_targets(clients, state.get("dns") or {}, args["addresses"])
        found = gather.probe_all(web_targets, mail_targets, ca_bundle, args["timeout"])
        records = gather.job_records(evidence)
        jobs = gather.backup_jobs(args["jobs"])
        now = datetime.datetime.now(datetime.timezone.utc)
        verdicts = []
        for cid, client in sorted(clients.items()):
            mail_config = ((evidence.get(client.get("mail_host")) or {}).get("mail_settings")) or None
            verdicts.append(evaluate.evaluate_client(cid, client, found, records, now, jobs=jobs, mail_config=mail_config,
                                                     hsts_min_age=args["hsts_min_age"],
                                                     max_age_hours=args["max_backup_age_hours"]))
        reseller = (state.get("reseller") or {}).get("name", "reseller")
        settings = {"ca_bundle": ca_bundle, "hsts_min_age": args["hsts_min_age"],
                    "max_backup_age_hours": args["max_backup_age_hours"], "addresses": args["addresses"],
                    "check_mode": bool(task_vars.get("ansible_check_mode", False))}
        doc = redact(gdpr_report.document(reseller, verdicts, now.strftime("%Y-%m-%dT%H:%M:%SZ"), settings))
        lines = [redact_url(line) for line in gdpr_report.summary_lines(doc)]
        writer = self._write(args["dest"], reseller, doc) if args["dest"] else None
        paths = writer.paths if writer else []
        if paths:
            lines.append("written to %s" % ", ".join(paths))
        for line in lines:
            self._display.display(line)
        result.update(changed=False, compliant=doc["summary"]["compliant"], not_compliant=doc["summary"]["not_compliant"],
                      failures=evaluate.failures(verdicts), msg="\n".join(lines))
        if paths:
            result.update(writer.result(), paths=paths)
        return result

    def _arguments(self):
        """The task's arguments, checked against ARGUMENT_SPEC (defaults filled in); ca_bundle must exist."""
        validation = ArgumentSpecValidator(ARGUMENT_SPEC).validate(self._task.args)
        if validation.error_messages:
            raise AnsibleActionFail("; ".join(validation.error_messages))
        args = validation.validated_parameters
        if args["ca_bundle"] and not os.path.isfile(args["ca_bundle"]):
            raise AnsibleActionFail("ca_bundle %s: no such file (a PEM bundle of the trust anchors)" % args["ca_bundle"])
        return args

    @staticmethod
    def _clients(state, wanted):
        """The clients of the state the report is about: those wanted (all when none is named)."""
        clients = state.get("clients") or {}
        if not wanted:
            return clients
        unknown = sorted(set(wanted) - set(clients))
        if unknown:
            raise AnsibleActionFail("clients: %s not in the state (clients: %s)" % (", ".join(unknown), ", ".join(sorted(clients))))
        return {cid: clients[cid] for cid in wanted}

    @staticmethod
    def _write(dest, reseller, doc):
        """Write the report as JSON and Markdown into dest (and the runner's artifacts); the writer."""
        writer = ReportWriter(dest)
        writer.write("gdpr-%s.json" % reseller, json.dumps(doc, indent=2, sort_keys=True) + "\n")
        writer.write("gdpr-%s.md" % reseller, gdpr_report.markdown(doc))
        return writer
