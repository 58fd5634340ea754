# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The optional libraries of the certificates, imported here and nowhere else.

cryptography (python3-cryptography, 38 or later) checks bundles and reads the store; acme and josepy
(python3-acme 2.1 or later, with requests) order certificates. Each group gives HAS_<GROUP> and
<GROUP>_IMPORT_ERROR (the traceback, for missing_required_lib); its names are None when it is missing, so
that importing this package never fails: the callers check HAS_* first (missing()).
"""

from __future__ import annotations

import traceback

try:
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa
    from cryptography.x509.oid import ExtensionOID, NameOID, SignatureAlgorithmOID
    HAS_CRYPTOGRAPHY = True
    CRYPTOGRAPHY_IMPORT_ERROR = None
except ImportError:  # pragma: no cover - depends on the host
    x509 = InvalidSignature = UnsupportedAlgorithm = hashes = serialization = None
    ec = ed448 = ed25519 = padding = rsa = ExtensionOID = NameOID = SignatureAlgorithmOID = None
    HAS_CRYPTOGRAPHY = False
    CRYPTOGRAPHY_IMPORT_ERROR = traceback.format_exc()

try:
    import josepy as jose
    import requests
    from acme import challenges, messages
    from acme import client as acme_client
    from acme import errors as acme_errors
    HAS_ACME = True
    ACME_IMPORT_ERROR = None
except ImportError:  # pragma: no cover - depends on the host
    jose = requests = challenges = messages = acme_client = acme_errors = None
    HAS_ACME = False
    ACME_IMPORT_ERROR = traceback.format_exc()

__all__ = [
    "HAS_CRYPTOGRAPHY", "CRYPTOGRAPHY_IMPORT_ERROR", "HAS_ACME", "ACME_IMPORT_ERROR", "missing",
    "x509", "InvalidSignature", "UnsupportedAlgorithm", "hashes", "serialization", "ec", "ed448", "ed25519", "padding",
    "rsa", "ExtensionOID", "NameOID", "SignatureAlgorithmOID",
    "jose", "requests", "challenges", "messages", "acme_client", "acme_errors",
]


def missing(acme=False):
    """(library, traceback) of the first library missing for the work asked (acme: ACME orders too), or None."""
    if not HAS_CRYPTOGRAPHY:
        return "cryptography (python3-cryptography)", CRYPTOGRAPHY_IMPORT_ERROR
    if acme and not HAS_ACME:
        return "acme (python3-acme)", ACME_IMPORT_ERROR
    return None
