# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The certificate metrics of a tls_certificates run: fracto_tls_<reseller>.prom in the textfile collector directory.

One file per reseller (resellers share a host and a store; each run knows only its own certificates). Only stable
values go in (expiry dates, the last outcome), so a run that changes no certificate rewrites no file.
"""

from __future__ import annotations

import calendar

from ansible_collections.fracto.hosting.plugins.module_utils.metrics import MetricFamily, read_metrics_file, write_metrics_file

OUTCOMES = ("renewed", "ok", "failed")


def metrics_file(reseller):
    return "fracto_tls_%s.prom" % (reseller or "platform")


def outcome_of(cert_id, result, previous):
    """renewed (a new certificate went in), failed (refused, order failed or rate limited by the CA); a run that had
    nothing to do for the certificate keeps the outcome of the run that last did (ok when none did)."""
    if cert_id in result["refused"] or cert_id in result["failed_orders"] or cert_id in result["rate_limited"]:
        return "failed"
    if cert_id in result["issued"] or cert_id in result["renewed"] or cert_id in result["installed"]:
        return "renewed"
    return previous.get(cert_id, "ok")


def previous_outcomes(directory, reseller):
    """{certificate id: outcome} of this reseller's file as the last run wrote it."""
    return {labels["certificate"]: labels["outcome"] for name, labels, value in read_metrics_file(directory, metrics_file(reseller))
            if name == "fracto_certificate_renewal_outcome" and value == "1" and labels.get("outcome") in OUTCOMES
            and "certificate" in labels}


def certificate_families(run, result, reseller, previous=None):
    """The families of a finished CertificateRun (run.wanted, run.expiry, the installed records), its result and the
    outcomes of the previous file."""
    by_name = MetricFamily("fracto_certificate_expiry_timestamp_seconds", "gauge",
                           "Unix time at which the installed certificate serving this name expires.")
    by_id = MetricFamily("fracto_certificate_id_expiry_timestamp_seconds", "gauge",
                         "Unix time at which the installed certificate of this id expires.")
    outcome = MetricFamily("fracto_certificate_renewal_outcome", "gauge",
                           "1 for the outcome of the last run for this certificate (renewed, ok, failed), 0 for the others.")
    reseller = reseller or "(platform)"
    for cert_id in sorted(set(run.wanted) | set(run.expiry)):
        wanted = run.wanted.get(cert_id)
        client = wanted["client"] if wanted else (run.found[cert_id].client if cert_id in run.found else None)
        labels = {"reseller": reseller, "client": client or "unknown", "certificate": cert_id}
        if cert_id in run.expiry and run.expiry[cert_id][1] is not None:
            names, not_after = run.expiry[cert_id]
            when = calendar.timegm(not_after.utctimetuple())
            by_id.add(labels, when)
            for name in names:
                by_name.add(dict(labels, name=name), when)
        if wanted:
            current = outcome_of(cert_id, result, previous or {})
            for value in OUTCOMES:
                outcome.add(dict(labels, outcome=value), value == current)
    return [by_name, by_id, outcome]


def write_certificate_metrics(run, result, reseller, directory):
    """Write (when changed) this reseller's certificate metrics; True when the file was written."""
    families = certificate_families(run, result, reseller, previous_outcomes(directory, reseller))
    return write_metrics_file(directory, metrics_file(reseller), families)
