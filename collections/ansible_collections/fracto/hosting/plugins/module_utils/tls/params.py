# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The parameters of fracto.hosting.tls_certificates: their defaults and the checks of a run before anything."""

from __future__ import annotations

import re

from ansible_collections.fracto.hosting.plugins.module_utils.state.names import MAX_NAMES_PER_CERT

DEFAULTS = {
    "certificates": [], "clients": [], "prune": False, "store": "/etc/fracto/tls", "webroot": "/var/lib/fracto/acme",
    "acme_directory": None, "contact_email": None, "account_dir": "/etc/fracto/acme", "reseller": None,
    "renew_fraction": 0.3333, "concurrency": 4, "precheck": True, "precheck_timeout": 5.0, "order_timeout": 120,
    "validity_warning_days": 30, "metrics_dir": "/var/lib/prometheus/node-exporter",
}
_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]*$")


class ParameterError(ValueError):
    """The module's parameters are unusable (a programming error of the caller)."""


def _names(raw):
    names = []
    for name in raw or []:
        name = str(name).lower().rstrip(".")
        if name not in names:
            names.append(name)
    return names


def checked_entries(params, store):
    """The certificates of params (merged with DEFAULTS), their names normalised; ParameterError when unusable.

    store (a CertificateStore) refuses an id that is not a safe file name.
    """
    entries, seen = [], set()
    for raw in params["certificates"] or []:
        entry = dict(raw)
        cert_id = entry.get("id")
        store.path(cert_id)  # raises ParameterError for an unsafe id
        if cert_id in seen:
            raise ParameterError("certificate id %s is given twice" % cert_id)
        seen.add(cert_id)
        if entry.get("source") not in ("acme", "custom"):
            raise ParameterError("certificate %s: source must be acme or custom" % cert_id)
        entry["names"] = names = _names(entry.get("names"))
        if entry["source"] == "acme":
            if not names:
                raise ParameterError("certificate %s: an ACME certificate needs names" % cert_id)
            if len(names) > MAX_NAMES_PER_CERT:
                raise ParameterError("certificate %s: %d names, at most %d per ACME certificate" % (cert_id, len(names), MAX_NAMES_PER_CERT))
            if any(n.startswith("*.") for n in names):
                raise ParameterError("certificate %s: wildcards cannot be validated over HTTP-01" % cert_id)
        entries.append(entry)
    if any(e["source"] == "acme" for e in entries):
        if not params.get("acme_directory"):
            raise ParameterError("acme_directory is required when an ACME certificate is wanted")
        if not _SLUG.match(params.get("reseller") or ""):
            raise ParameterError("reseller (a slug) is required when an ACME certificate is wanted: it names the ACME account")
    if not 0 < params["renew_fraction"] <= 1:
        raise ParameterError("renew_fraction must be in (0, 1]")
    if params["concurrency"] < 1:
        raise ParameterError("concurrency must be at least 1")
    return entries
