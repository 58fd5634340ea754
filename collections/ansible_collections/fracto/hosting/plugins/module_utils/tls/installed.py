# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the store holds for one certificate id, read and checked now (with cryptography)."""

from __future__ import annotations

import hashlib

from ansible_collections.fracto.hosting.plugins.module_utils.tls.crypto import (
    BundleError,
    dns_names,
    fingerprint,
    load_certs,
    load_key,
    public_der,
    validity,
)
from ansible_collections.fracto.hosting.plugins.module_utils.tls.store import FULLCHAIN, PRIVKEY
from ansible_collections.fracto.hosting.plugins.module_utils.tls.times import CLOCK_SKEW, iso


def short_fingerprint(fp):
    """The start of a fingerprint, as the diff and the changes show it."""
    return fp[:16] if fp else "none"


class Installed:
    """What the store holds for one id, read and checked now."""

    def __init__(self, cert_id):
        self.id = cert_id
        self.meta = {}
        self.exists = False          # a fullchain.pem is there
        self.valid = False           # parses, the key matches, valid now
        self.problem = "no certificate installed"
        self.names = []
        self.not_before = self.not_after = None
        self.fingerprint = self.issuer = None
        self.fullchain = None        # bytes
        self.privkey_digest = None   # sha256 of privkey.pem: compared, never shown

    @property
    def source(self):
        return self.meta.get("source")

    @property
    def client(self):
        return self.meta.get("client")

    def days_left(self, now):
        return (self.not_after - now).days if self.not_after else None

    def view(self):
        """The readable, secret-free view of the diff."""
        if not self.exists and not self.meta.get("names"):
            return None
        if self.valid:
            not_after = iso(self.not_after)
        elif self.not_after:
            not_after = "%s (not valid: %s)" % (iso(self.not_after), self.problem)
        else:
            not_after = "none (%s)" % self.problem
        return {"source": self.source or "unknown", "names": self.names or self.meta.get("names", []), "not_after": not_after,
                "fingerprint": short_fingerprint(self.fingerprint)}


def read_installed(store, cert_id, now):
    """Installed of cert_id in store (a CertificateStore): its record, its files, and whether they serve now."""
    found = Installed(cert_id)
    found.meta = store.meta(cert_id)
    try:
        with open(store.path(cert_id, FULLCHAIN), "rb") as handle:
            found.fullchain = handle.read()
    except OSError:
        return found
    found.exists = True
    try:
        leaf = load_certs(found.fullchain, FULLCHAIN)[0]
    except BundleError as exc:
        found.problem = str(exc)
        return found
    found.names = dns_names(leaf)
    found.not_before, found.not_after = validity(leaf)
    found.fingerprint = fingerprint(leaf)
    found.issuer = leaf.issuer.rfc4514_string()
    try:
        with open(store.path(cert_id, PRIVKEY), "rb") as handle:
            data = handle.read()
    except OSError:
        found.problem = "privkey.pem is missing"
        return found
    found.privkey_digest = hashlib.sha256(data).hexdigest()
    try:
        key = load_key(data, PRIVKEY)
    except BundleError as exc:
        found.problem = str(exc)
        return found
    if public_der(key.public_key()) != public_der(leaf.public_key()):
        found.problem = "privkey.pem does not match fullchain.pem"
    elif now + CLOCK_SKEW < found.not_before:
        found.problem = "not valid before %s" % iso(found.not_before)
    elif now >= found.not_after:
        found.problem = "expired on %s" % iso(found.not_after)
    else:
        found.valid, found.problem = True, None
    return found
