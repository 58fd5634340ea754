# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one check of a commercial (OV/EV) certificate bundle: on the controller when the state is validated
(state/model.py, without names) and again on the host before it is installed (tls/run.py, with the names it must
cover). Nothing here ever puts key material into a message.
"""

from __future__ import annotations

import datetime

from ansible_collections.fracto.hosting.plugins.module_utils.state.names import covered_by
from ansible_collections.fracto.hosting.plugins.module_utils.tls.crypto import (
    BundleError,
    cert_pem,
    dns_names,
    fingerprint,
    key_pem,
    load_certs,
    load_key,
    public_der,
    signed_by,
    validity,
)
from ansible_collections.fracto.hosting.plugins.module_utils.tls.deps import HAS_CRYPTOGRAPHY
from ansible_collections.fracto.hosting.plugins.module_utils.tls.times import CLOCK_SKEW, iso, now_utc

WARN_DAYS = 30     # a certificate with fewer days left is reported (state validation, validity_warning_days)

__all__ = ["WARN_DAYS", "BundleError", "check_bundle"]


def check_bundle(cert_text, chain_text, key_text, names=None, now=None, warn_days=WARN_DAYS):
    """Check a commercial bundle; return its facts or raise BundleError.

    The key matches the certificate, each certificate is issued by the next one of the chain, the certificate
    is valid now and covers every one of names (wildcards allowed); with names None (the state, before its names
    are known), it must hold at least one DNS name. The facts hold the files to install ("fullchain",
    "privkey": bytes, never to be shown).
    """
    if not HAS_CRYPTOGRAPHY:
        raise BundleError("the Python package cryptography is needed to check certificates")
    now = now or now_utc()
    leaf = load_certs(cert_text, "cert")
    if len(leaf) != 1:
        raise BundleError("cert must hold exactly one certificate (put intermediates in chain)")
    leaf = leaf[0]
    if isinstance(chain_text, (str, bytes)) and not chain_text.strip():
        chain_text = None
    chain = load_certs(chain_text, "chain") if chain_text else []
    key = load_key(key_text)
    if public_der(key.public_key()) != public_der(leaf.public_key()):
        raise BundleError("key does not match the certificate")
    issued = [leaf] + chain
    for child, parent in zip(issued, issued[1:]):
        if not signed_by(child, parent):
            raise BundleError("chain does not build: %s is not issued by %s"
                              % (child.subject.rfc4514_string(), parent.subject.rfc4514_string()))
    not_before, not_after = validity(leaf)
    if now + CLOCK_SKEW < not_before:
        raise BundleError("certificate is not valid before %s" % iso(not_before))
    if now >= not_after:
        raise BundleError("certificate expired on %s" % iso(not_after))
    san = dns_names(leaf)
    if names is None:
        if not san:
            raise BundleError("certificate has no DNS names in subjectAltName")
    elif not names:
        raise BundleError("no names are given for this certificate")
    else:
        missing = [n for n in names if not covered_by(n, san)]
        if missing:
            raise BundleError("certificate does not cover %s (it covers %s)" % (", ".join(missing), ", ".join(san) or "no DNS name"))
    return {
        "names": san, "not_before": not_before, "not_after": not_after, "days_left": (not_after - now).days,
        "expiring": (not_after - now) < datetime.timedelta(days=warn_days), "fingerprint": fingerprint(leaf),
        "issuer": leaf.issuer.rfc4514_string(), "subject": leaf.subject.rfc4514_string(),
        "fullchain": b"".join(cert_pem(c) for c in issued), "privkey": key_pem(key),
    }
