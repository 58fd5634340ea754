# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Certificates and keys, with only the cryptography APIs of both Debian 12 (38) and the unit tests (recent).

Nothing here puts key material into a message: a refusal (BundleError) names what was refused and why.
"""

from __future__ import annotations

import re

from ansible_collections.fracto.hosting.plugins.module_utils.tls.deps import (
    ExtensionOID,
    InvalidSignature,
    NameOID,
    SignatureAlgorithmOID,
    UnsupportedAlgorithm,
    ec,
    ed448,
    ed25519,
    hashes,
    padding,
    rsa,
    serialization,
    x509,
)
from ansible_collections.fracto.hosting.plugins.module_utils.tls.times import UTC

_PEM_CERT = re.compile(r"-----BEGIN CERTIFICATE-----\s.+?-----END CERTIFICATE-----", re.S)
_PEM_KEY = re.compile(r"-----BEGIN ((?:RSA |EC |ENCRYPTED )?)PRIVATE KEY-----\s.+?-----END \1PRIVATE KEY-----", re.S)


class BundleError(ValueError):
    """A certificate or key is refused; str() says why and never holds key material."""


def _text(value):
    """PEM text of a str or bytes value; '' for anything else (None, a number or a list of the state)."""
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    return value if isinstance(value, str) else ""


def load_certs(text, what="certificate"):
    blocks = _PEM_CERT.findall(_text(text))
    if not blocks:
        raise BundleError("%s is not a PEM certificate" % what)
    try:
        return [x509.load_pem_x509_certificate(block.encode("ascii")) for block in blocks]
    except (ValueError, UnicodeEncodeError):
        raise BundleError("%s could not be parsed as PEM certificates" % what)


def load_key(text, what="key"):
    match = _PEM_KEY.search(_text(text))
    if not match:
        raise BundleError("%s is not a PEM private key" % what)
    if match.group(1) == "ENCRYPTED ":
        raise BundleError("%s is encrypted: give it without a passphrase" % what)
    try:
        return serialization.load_pem_private_key(match.group(0).encode("ascii"), password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm, UnicodeEncodeError):
        raise BundleError("%s could not be loaded (encrypted or malformed private key)" % what)


def key_pem(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def cert_pem(cert):
    return cert.public_bytes(serialization.Encoding.PEM)


def public_der(public_key):
    return public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def validity(cert):
    """(not_before, not_after), timezone-aware."""
    before = getattr(cert, "not_valid_before_utc", None)
    after = getattr(cert, "not_valid_after_utc", None)
    if before is None:  # cryptography < 42
        before = cert.not_valid_before.replace(tzinfo=UTC)
        after = cert.not_valid_after.replace(tzinfo=UTC)
    return before, after


def fingerprint(cert):
    return cert.fingerprint(hashes.SHA256()).hex()


def dns_names(cert):
    """The DNS names of the subjectAltName, lowercase ([] without the extension)."""
    try:
        san = cert.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME).value
    except x509.ExtensionNotFound:
        return []
    return [n.lower() for n in san.get_values_for_type(x509.DNSName)]


def signed_by(child, parent):
    """True when parent's key signed child and names it as issuer."""
    if child.issuer != parent.subject:
        return False
    verify = getattr(child, "verify_directly_issued_by", None)
    try:
        if verify is not None:  # cryptography >= 40
            verify(parent)
            return True
        key = parent.public_key()
        if isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(child.signature, child.tbs_certificate_bytes, ec.ECDSA(child.signature_hash_algorithm))
        elif isinstance(key, rsa.RSAPublicKey):
            if child.signature_algorithm_oid == SignatureAlgorithmOID.RSASSA_PSS:
                pad = padding.PSS(mgf=padding.MGF1(child.signature_hash_algorithm), salt_length=padding.PSS.AUTO)
            else:
                pad = padding.PKCS1v15()
            key.verify(child.signature, child.tbs_certificate_bytes, pad, child.signature_hash_algorithm)
        elif isinstance(key, (ed25519.Ed25519PublicKey, ed448.Ed448PublicKey)):
            key.verify(child.signature, child.tbs_certificate_bytes)
        else:
            return False
    except (InvalidSignature, ValueError, TypeError, UnsupportedAlgorithm):
        return False
    return True


def make_key():
    """A new ECDSA P-256 key (certificates and ACME accounts)."""
    return ec.generate_private_key(ec.SECP256R1())


def make_csr(key, names):
    subject = [x509.NameAttribute(NameOID.COMMON_NAME, names[0])] if len(names[0]) <= 64 else []
    return (x509.CertificateSigningRequestBuilder().subject_name(x509.Name(subject))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
            .sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM))
