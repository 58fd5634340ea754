# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The GDPR report as HTML: one page per client (the page a reseller hands to its client) and the reseller's index.

Rendered from the report's document (report.document, already redacted: the pages show what the JSON holds, never a
second evaluation) with the collection's template (templates/gdpr.html.j2: both pages, by `page`) or the operator's,
in the platform's Jinja2 sandbox with autoescape on: every value comes from a reseller's state or from a
host and is escaped. A client's page is given that client's verdict only, so it cannot name another client.
Paths are relative to the report directory: the index is gdpr-<reseller>.html, next to the .md and .json, the
clients' pages gdpr-<reseller>/<client>.html.
"""

from __future__ import annotations

import os

from ansible_collections.fracto.hosting.plugins.module_utils.gdpr.report import evidence_entries
from ansible_collections.fracto.hosting.plugins.module_utils.render import Templates
from ansible_collections.fracto.hosting.plugins.module_utils.secrets import redact

DEFAULT_TEMPLATE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "templates", "gdpr.html.j2")
OPTION = "html_template"


def index_name(reseller):
    return "gdpr-%s.html" % reseller


def page_dir(reseller):
    return "gdpr-%s" % reseller


def page_name(reseller, client):
    return "%s/%s.html" % (page_dir(reseller), client)


def template(source):
    """The pages' template (its source) in the sandbox with autoescape on, compiled now: one that does not compile fails
    before anything is probed (RenderError)."""
    found = Templates({"page": source}, option=OPTION, autoescape=True)
    found.compile("page")
    return found


def _when(generated):
    """The report's time as people read it: 2026-11-29T18:00:00Z -> 2026-11-29 18:00:00 UTC."""
    text = str(generated or "")
    return text.replace("T", " ").replace("Z", " UTC") if text.endswith("Z") else text


def _header(doc, page):
    """What every page says about the run: the reseller, when the checks ran, the thresholds they used."""
    settings = doc.get("settings") or {}
    hsts = settings.get("hsts_min_age")
    return {"page": page, "reseller": doc["reseller"], "generated": doc["generated"], "generated_text": _when(doc["generated"]),
            "thresholds": {"hsts_min_age": hsts, "hsts_min_days": hsts // 86400 if isinstance(hsts, int) else None,
                           "max_backup_age_hours": settings.get("max_backup_age_hours")}}


def _counts(requirements):
    passed = sum(1 for r in requirements if r["passed"])
    return {"passed": passed, "failed": len(requirements) - passed, "total": len(requirements)}


def client_context(doc, client):
    """The context of a client's page: the run's header and that client's verdict only (redacted as the JSON is)."""
    verdict = redact(doc["clients"][client])
    requirements = [{"id": req["id"], "title": req["title"], "passed": bool(req["passed"]), "note": req.get("note"),
                     "reasons": list(req["reasons"]), "evidence": evidence_entries(req, code=str)}
                    for req in verdict["requirements"]]
    context = _header(doc, "client")
    context.update(
        client={"id": verdict["client"], "package": verdict["package"], "claims_gdpr": bool(verdict["claims_gdpr"]),
                "compliant": bool(verdict["compliant"]), "verdict": verdict["verdict"], "blocking": bool(verdict["blocking"])},
        counts=_counts(requirements), requirements=requirements)
    return context


def index_context(doc):
    """The context of the reseller's index: one line per client with its counts and the link to its page."""
    clients = []
    for cid, verdict in sorted(doc["clients"].items()):
        clients.append({"id": cid, "package": verdict["package"], "claims_gdpr": bool(verdict["claims_gdpr"]),
                        "compliant": bool(verdict["compliant"]), "verdict": verdict["verdict"],
                        "blocking": bool(verdict["blocking"]), "missing": list(verdict["missing"]),
                        "counts": _counts(verdict["requirements"]), "href": page_name(doc["reseller"], cid)})
    context = _header(doc, "index")
    context.update(clients=clients, summary={"clients": len(clients), "compliant": sum(1 for c in clients if c["compliant"]),
                                             "not_compliant": sum(1 for c in clients if not c["compliant"]),
                                             "blocking": sum(1 for c in clients if c["blocking"])})
    return redact(context)


def render(doc, found):
    """Every page of the report: {path relative to the report directory: HTML}, the index first."""
    pages = {index_name(doc["reseller"]): found.render("page", index_context(doc))}
    for cid in sorted(doc["clients"]):
        pages[page_name(doc["reseller"], cid)] = found.render("page", client_context(doc, cid))
    return pages
