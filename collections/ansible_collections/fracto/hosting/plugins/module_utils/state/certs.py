# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Checks of a commercial (OV/EV) certificate bundle, done with cryptography.

Nothing here ever puts key material into a message.
"""

from __future__ import annotations

import datetime

try:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import ExtensionOID
    HAS_CRYPTOGRAPHY = True
except ImportError:  # pragma: no cover - cryptography ships with ansible-core
    HAS_CRYPTOGRAPHY = False

WARN_DAYS = 30


class BundleError(ValueError):
    """The bundle is refused; str() says why without any secret."""


def _load_certs(pem, what):
    if not isinstance(pem, str) or "-----BEGIN CERTIFICATE-----" not in pem:
        raise BundleError("%s is not a PEM certificate" % what)
    try:
        return x509.load_pem_x509_certificates(pem.encode("ascii"))
    except ValueError:
        raise BundleError("%s could not be parsed as PEM certificates" % what)


def _public_bytes(public_key):
    return public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def dns_names(cert):
    try:
        san = cert.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME).value
    except x509.ExtensionNotFound:
        return []
    return [n.lower() for n in san.get_values_for_type(x509.DNSName)]


def inspect_bundle(cert_pem, chain_pem, key_pem, now=None):
    """Return facts about a bundle or raise BundleError.

    Checks that the key matches, that each certificate is signed by the next
    one of the chain, and that the leaf is valid now.
    """
    if not HAS_CRYPTOGRAPHY:
        raise BundleError("the Python package cryptography is needed to check certificates")
    now = now or datetime.datetime.now(datetime.timezone.utc)
    leaf = _load_certs(cert_pem, "cert")
    if len(leaf) != 1:
        raise BundleError("cert must hold exactly one certificate (put intermediates in chain)")
    leaf = leaf[0]
    chain = _load_certs(chain_pem, "chain") if chain_pem else []
    if not isinstance(key_pem, str) or "PRIVATE KEY-----" not in key_pem:
        raise BundleError("key is not a PEM private key")
    try:
        key = serialization.load_pem_private_key(key_pem.encode("ascii"), password=None)
    except (ValueError, TypeError):
        raise BundleError("key could not be loaded (encrypted or malformed private key)")
    if _public_bytes(key.public_key()) != _public_bytes(leaf.public_key()):
        raise BundleError("key does not match the certificate")
    issued = [leaf] + chain
    for child, parent in zip(issued, issued[1:]):
        try:
            child.verify_directly_issued_by(parent)
        except (ValueError, TypeError, Exception):  # InvalidSignature has no common base
            raise BundleError("chain does not build: %s is not issued by %s"
                              % (child.subject.rfc4514_string(), parent.subject.rfc4514_string()))
    not_before = leaf.not_valid_before_utc
    not_after = leaf.not_valid_after_utc
    if now < not_before:
        raise BundleError("certificate is not valid before %s" % not_before.isoformat())
    if now >= not_after:
        raise BundleError("certificate expired on %s" % not_after.isoformat())
    names = dns_names(leaf)
    if not names:
        raise BundleError("certificate has no DNS names in subjectAltName")
    return {
        "names": names,
        "not_after": not_after.isoformat(),
        "days_left": (not_after - now).days,
        "fingerprint": leaf.fingerprint(hashes.SHA256()).hex(),
        "subject": leaf.subject.rfc4514_string(),
    }
