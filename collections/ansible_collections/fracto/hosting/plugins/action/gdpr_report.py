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
from ansible_collections.fracto.hosting.plugins.module_utils.gdpr import evaluate, gather, pages
from ansible_collections.fracto.hosting.plugins.module_utils.gdpr import report as gdpr_report
from ansible_collections.fracto.hosting.plugins.module_utils.render import RenderError
from ansible_collections.fracto.hosting.plugins.module_utils.reports import ReportWriter
from ansible_collections.fracto.hosting.plugins.module_utils.secrets import redact, redact_url
from ansible_collections.fracto.hosting.plugins.module_utils.state.rules import client_id_problem, reseller_name_problem

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
    "html_template": {"type": "path"},
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
        state, ca_bundle = args["state"], args["ca_bundle"]
        reseller = (state.get("reseller") or {}).get("name", "reseller")
        clients = self._clients(state, args["clients"])
        template = self._page_template(args["html_template"], reseller, clients) if args["dest"] else None
        now = datetime.datetime.now(datetime.timezone.utc)
        verdicts = self._verdicts(args, clients, now)
        settings = {"ca_bundle": ca_bundle, "hsts_min_age": args["hsts_min_age"],
                    "max_backup_age_hours": args["max_backup_age_hours"], "addresses": args["addresses"],
                    "check_mode": bool(task_vars.get("ansible_check_mode", False))}
        doc = redact(gdpr_report.document(reseller, verdicts, now.strftime("%Y-%m-%dT%H:%M:%SZ"), settings))
        lines = [redact_url(line) for line in gdpr_report.summary_lines(doc)]
        writer, written = self._write(args["dest"], doc, template) if args["dest"] else (None, {})
        paths = writer.paths if writer else []
        if paths:  # the documents, then where the clients' pages are (one per client: too many to list)
            lines.append("written to %s" % ", ".join(paths[:3]))
            lines.append("a page per client (%d) in %s" % (len(written["clients"]), os.path.join(writer.directory,
                                                                                                 pages.page_dir(reseller))))
            if written["removed"]:
                lines.append("removed the pages of clients not in this report: %s" % ", ".join(written["removed"]))
        for line in lines:
            self._display.display(line)
        result.update(changed=False, compliant=doc["summary"]["compliant"], not_compliant=doc["summary"]["not_compliant"],
                      failures=evaluate.failures(verdicts), msg="\n".join(lines))
        if paths:
            result.update(writer.result(), paths=paths, pages=written)
        return result

    @staticmethod
    def _verdicts(args, clients, now):
        """Probe the clients' names from the controller and judge them with the evidence read on the hosts."""
        state, evidence = args["state"], args["evidence"]
        web_targets, mail_targets = gather.probe_targets(clients, state.get("dns") or {}, args["addresses"])
        found = gather.probe_all(web_targets, mail_targets, args["ca_bundle"], args["timeout"])
        records = gather.job_records(evidence)
        jobs = gather.backup_jobs(args["jobs"])
        verdicts = []
        for cid, client in sorted(clients.items()):
            mail_config = ((evidence.get(client.get("mail_host")) or {}).get("mail_settings")) or None
            verdicts.append(evaluate.evaluate_client(cid, client, found, records, now, jobs=jobs, mail_config=mail_config,
                                                     hsts_min_age=args["hsts_min_age"],
                                                     max_age_hours=args["max_backup_age_hours"]))
        return verdicts

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
    def _page_template(path, reseller, clients):
        """(path, compiled template) of the HTML pages (path's, else the collection's); the names the pages' files
        take (the reseller's and each client's, whole) are checked too, before anything is probed."""
        problem = reseller_name_problem(reseller)
        if problem:
            raise AnsibleActionFail("state.reseller.name: %s" % problem)
        for cid in sorted(clients):
            problem = client_id_problem(cid)
            if problem:
                raise AnsibleActionFail("state.clients.%s: %s" % (cid, problem))
        path = path or pages.DEFAULT_TEMPLATE
        try:
            with open(path, encoding="utf-8") as handle:
                return path, pages.template(handle.read())
        except (OSError, UnicodeDecodeError) as exc:
            raise AnsibleActionFail("html_template %s: cannot be read (%s)" % (path, exc)) from None
        except RenderError as exc:
            raise AnsibleActionFail("html_template %s: %s; nothing was probed or written" % (path, exc)) from None

    @staticmethod
    def _write(dest, doc, template):
        """Write the report as JSON, Markdown and HTML pages (template: (path, compiled)) into dest and the runner's
        artifacts; the writer and the pages' paths ({index, clients: {client: path}, removed}): pages an earlier run
        left for clients this run does not report are removed."""
        reseller, (path, found) = doc["reseller"], template
        try:
            html = pages.render(doc, found)
        except RenderError as exc:
            raise AnsibleActionFail("html_template %s: %s; nothing was written" % (path, exc)) from None
        writer = ReportWriter(dest)
        writer.write("gdpr-%s.json" % reseller, json.dumps(doc, indent=2, sort_keys=True) + "\n")
        writer.write("gdpr-%s.md" % reseller, gdpr_report.markdown(doc))
        written = {"index": writer.write(pages.index_name(reseller), html[pages.index_name(reseller)]),
                   "clients": {cid: writer.write(pages.page_name(reseller, cid), html[pages.page_name(reseller, cid)])
                               for cid in sorted(doc["clients"])}}
        written["removed"] = writer.prune(pages.page_dir(reseller), ".html")
        return writer, written
