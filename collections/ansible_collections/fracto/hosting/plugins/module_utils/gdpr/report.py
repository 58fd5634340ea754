# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The GDPR report of a reseller: the JSON document and its Markdown page, from the verdicts of evaluate.py."""

from __future__ import annotations


def document(reseller, verdicts, generated, settings):
    """The JSON document: per client its claim, verdict and every requirement with its evidence."""
    return {
        "kind": "gdpr-report", "reseller": reseller, "generated": generated, "settings": settings,
        "summary": {
            "clients": len(verdicts),
            "compliant": sorted(v["client"] for v in verdicts if v["compliant"]),
            "not_compliant": sorted(v["client"] for v in verdicts if not v["compliant"]),
            "gdpr_not_compliant": sorted(v["client"] for v in verdicts if v["blocking"]),
        },
        "clients": {v["client"]: v for v in verdicts},
    }


def _md(text):
    return str(text).replace("|", "\\|").replace("\n", " ")


def _code(value):
    """A name or value set apart in Markdown."""
    return "`%s`" % (value,)


def evidence_entries(requirement, code=_code):
    """The evidence of a requirement as text, one entry per item: {text, details} (details: the mail checks).

    code sets apart names and values (Markdown backticks; plain text for the HTML pages, which escape it)."""
    rid = requirement["id"]
    out = []
    for item in requirement["evidence"]:
        details = []
        if rid == "https-everywhere":
            if item.get("verified"):
                text = "%s at %s: certificate %s issued by %s, covers %s, valid until %s (%s, HTTP %s)" % (
                    code(item["name"]), item.get("address"), code(item.get("subject")), item.get("issuer"),
                    ", ".join(item.get("certificate_names") or []), item.get("not_after"), item.get("tls_version"), item.get("status"))
            else:
                text = "%s at %s: %s%s" % (code(item["name"]), item.get("address"), item.get("error") or "not verified",
                                           " (presented %s by %s for %s)" % (code(item.get("subject")), item.get("issuer"),
                                                                             ", ".join(item.get("certificate_names") or []))
                                           if item.get("subject") else "")
        elif rid == "http-redirects-to-https":
            text = "%s at %s: %s" % (code("http://%s/" % item["name"]), item.get("address"), item.get("error") or "%s %s" % (
                item.get("status"), ("-> " + item["location"]) if item.get("location") else ""))
        elif rid == "hsts":
            text = "%s: %s" % (code(item["name"]), "%s (max-age %s s = %s days)" % (
                code("Strict-Transport-Security: %s" % item["header"]), item.get("max_age"), (item.get("max_age") or 0) // 86400)
                if item.get("header") else "no header")
        elif rid == "tls-only-mail-access":
            text = "%s%s:" % (code(item["name"]), " at %s" % item["address"] if item.get("address") else "")
            details = list(item.get("checks") or [])
        elif rid == "encrypted-offsite-backup":
            text = _backup_text(item, code)
        else:
            continue
        out.append({"text": text, "details": details})
    return out


def _backup_text(item, code):
    if item.get("record") is None and "repository" not in item:
        return "job %s on %s: no record" % (code(item["job"]), item.get("host"))
    return ("job %s on %s: last success %s%s, last run %s %s%s; repository %s (managed by %s, encrypted %s, "
            "outside the host %s), snapshot %s, %s bytes" % (
                code(item["job"]), item.get("host"), item.get("last_success"),
                " (%s ago)" % item["age"] if item.get("age") else "", item.get("last_attempt"), item.get("last_status"),
                ": %s" % item["last_error"] if item.get("last_error") else "", code(item.get("repository")),
                item.get("managed_by"), item.get("encrypted"), item.get("outside_host"), item.get("snapshot_id"),
                item.get("size_bytes")))


def markdown(doc):
    """The human-readable page of the report."""
    lines = ["# GDPR report of reseller %s" % doc["reseller"], "",
             "Generated %s from the hosts themselves (probes from the controller, job records read on the hosts)." % doc["generated"],
             "Trust anchors: %s. HSTS at least %s s; backups at most %s h old." % (
                 doc["settings"].get("ca_bundle") or "the system's", doc["settings"].get("hsts_min_age"),
                 doc["settings"].get("max_backup_age_hours")), "",
             "| client | package | claims GDPR | verdict | failing requirements |", "|---|---|---|---|---|"]
    for cid, verdict in sorted(doc["clients"].items()):
        claim = "yes" if verdict["claims_gdpr"] else "no"
        failing = ", ".join(verdict["missing"]) or "-"
        lines.append("| %s | %s | %s | **%s** | %s |" % (cid, verdict["package"], claim, verdict["verdict"], failing))
    for cid, verdict in sorted(doc["clients"].items()):
        lines += ["", "## %s (package %s): %s" % (cid, verdict["package"], verdict["verdict"].upper()), ""]
        if verdict["claims_gdpr"]:
            lines.append("The package claims GDPR compliance; %s." % (
                "every requirement is met" if verdict["compliant"] else "requirements are NOT met, see below"))
        else:
            lines.append("The package does not claim GDPR compliance; what it would miss is listed for information.")
        for req in verdict["requirements"]:
            lines += ["", "### %s %s: %s" % ("PASS" if req["passed"] else "FAIL", req["id"], req["title"])]
            if req.get("note"):
                lines.append("")
                lines.append(req["note"])
            if req["reasons"]:
                lines += ["", "Why it fails:"] + ["- %s" % _md(r) for r in req["reasons"]]
            evidence = evidence_entries(req)
            if evidence:
                lines += ["", "Evidence:"]
                for entry in evidence:
                    lines += ["- " + _md(entry["text"])] + ["  - %s" % _md(detail) for detail in entry["details"]]
    return "\n".join(lines) + "\n"


def summary_lines(doc):
    """A short text for the console: one line per client and the reasons of each failing requirement."""
    out = ["GDPR report of reseller %s (%s)" % (doc["reseller"], doc["generated"])]
    for cid, verdict in sorted(doc["clients"].items()):
        out.append("client %s (package %s, %s): %s" % (cid, verdict["package"],
                                                       "claims GDPR" if verdict["claims_gdpr"] else "no GDPR claim",
                                                       verdict["verdict"].upper()))
        for req in verdict["requirements"]:
            out.append("  %s %s" % ("ok  " if req["passed"] else "FAIL", req["id"]))
            if not req["passed"]:
                out.extend("       - %s" % r for r in req["reasons"][:8])
                if len(req["reasons"]) > 8:
                    out.append("       - ... %d more in the report" % (len(req["reasons"]) - 8))
    return out
