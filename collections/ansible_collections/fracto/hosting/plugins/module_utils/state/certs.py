# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A commercial (OV/EV) certificate bundle of the state, checked by the one bundle checker, tls/bundle.py.

The host checks the same bundle again with the same function before installing it (tls/run.py). Nothing here
ever puts key material into a message.
"""

from __future__ import annotations

from ansible_collections.fracto.hosting.plugins.module_utils.tls.bundle import WARN_DAYS, BundleError, check_bundle
from ansible_collections.fracto.hosting.plugins.module_utils.tls.times import iso

__all__ = ["WARN_DAYS", "BundleError", "inspect_bundle"]


def inspect_bundle(cert_pem, chain_pem, key_pem, now=None):
    """The facts of a bundle (names, not_after as ISO text, days_left, fingerprint, subject) or BundleError.

    The key matches, each certificate is signed by the next one of the chain, the leaf is valid now and holds
    DNS names; which of the client's names it must cover is decided by the state (own_certificates.py).
    """
    facts = check_bundle(cert_pem, chain_pem, key_pem, names=None, now=now)
    return {"names": facts["names"], "not_after": iso(facts["not_after"]), "days_left": facts["days_left"],
            "fingerprint": facts["fingerprint"], "subject": facts["subject"]}
