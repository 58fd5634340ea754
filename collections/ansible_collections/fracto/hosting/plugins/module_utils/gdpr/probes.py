# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Network probes for the GDPR evidence, seen from another host than the one probed (stdlib only).

Each probe connects to an address (the host of a name, or its dedicated IPv4) with SNI / Host set to
the name, never resolves anything, never logs in, and returns a plain dict of what it saw (evidence);
judging that evidence is evaluate.py's job. Errors are part of the evidence, never raised.
"""

from __future__ import annotations

import http.client
import imaplib
import poplib
import smtplib
import socket
import ssl

PLAINTEXT_MECHANISMS = ("PLAIN", "LOGIN")
PROBE_USER = "gdpr-probe"  # sent in clear to POP3 110 to see whether USER is refused; never a real mailbox


def _error(exc):
    text = str(exc) or exc.__class__.__name__
    return "%s: %s" % (exc.__class__.__name__, text)


def _refused(exc):
    return isinstance(exc, (ConnectionRefusedError, ConnectionResetError))


def tls_context(cafile=None):
    """A verifying client context: the trust anchors of cafile (a PEM bundle) or the system's."""
    context = ssl.create_default_context(cafile=cafile) if cafile else ssl.create_default_context()
    context.check_hostname = True
    context.verify_mode = ssl.CERT_REQUIRED
    return context


def describe_certificate(der):
    """Subject, issuer, names and validity of a DER certificate (for the evidence); {} if unreadable."""
    if not der:
        return {}
    try:
        from cryptography import x509
        from cryptography.x509.oid import NameOID
    except ImportError:  # pragma: no cover - cryptography is in requirements.txt
        return {}
    try:
        cert = x509.load_der_x509_certificate(der)
    except ValueError:
        return {}

    def common_name(name):
        values = name.get_attributes_for_oid(NameOID.COMMON_NAME)
        return values[0].value if values else name.rfc4514_string()

    try:
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)
    except x509.ExtensionNotFound:
        sans = []
    after = getattr(cert, "not_valid_after_utc", None) or cert.not_valid_after
    before = getattr(cert, "not_valid_before_utc", None) or cert.not_valid_before
    return {
        "subject": common_name(cert.subject), "issuer": common_name(cert.issuer), "names": list(sans),
        "not_before": before.strftime("%Y-%m-%dT%H:%M:%SZ"), "not_after": after.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "serial": format(cert.serial_number, "x"),
    }


def _unverified_certificate(address, port, name, timeout, starttls=None):
    """The certificate the server presents for name, without verifying it (only to show it as evidence)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with socket.create_connection((address, port), timeout=timeout) as raw:
            with context.wrap_socket(raw, server_hostname=name) as tls:
                return describe_certificate(tls.getpeercert(binary_form=True))
    except (OSError, ssl.SSLError):
        return {}


def probe_tls(address, port, name, cafile=None, timeout=10.0, then=None):
    """TLS handshake with SNI name, verified against cafile and checked to cover name.

    Returns {address, port, name, reachable, verified, error, certificate, tls_version}; then(tls, found), when
    given, runs on the verified connection (to speak a protocol over it).
    """
    found = {"address": address, "port": port, "name": name, "reachable": False, "verified": False, "error": None,
             "certificate": {}, "tls_version": None}
    try:
        raw = socket.create_connection((address, port), timeout=timeout)
    except OSError as exc:
        found["error"] = _error(exc)
        return found
    found["reachable"] = True
    try:
        with raw, tls_context(cafile).wrap_socket(raw, server_hostname=name) as tls:
            found["verified"] = True
            found["tls_version"] = tls.version()
            found["certificate"] = describe_certificate(tls.getpeercert(binary_form=True))
            if then is not None:
                then(tls, found)
    except ssl.SSLCertVerificationError as exc:
        found["error"] = "certificate does not verify for %s: %s" % (name, exc.verify_message or exc.reason or exc)
        found["certificate"] = _unverified_certificate(address, port, name, timeout)
    except ssl.SSLError as exc:
        if found["verified"]:
            found["error"] = _error(exc)
        else:
            found["error"] = "TLS handshake failed: %s" % _error(exc)
    except (OSError, http.client.HTTPException) as exc:
        found["error"] = _error(exc)
    return found


def probe_https(address, name, cafile=None, timeout=10.0, port=443):
    """GET https://name/ from address: the verified handshake, the status, Strict-Transport-Security and Location."""
    def get(tls, found):
        conn = http.client.HTTPConnection(name, port, timeout=timeout)
        conn.sock = tls
        conn.request("GET", "/", headers={"Host": name, "User-Agent": "fracto-gdpr-report"})
        response = conn.getresponse()
        found["status"] = response.status
        found["hsts"] = response.getheader("Strict-Transport-Security")
        found["location"] = response.getheader("Location")
        response.read(65536)

    found = probe_tls(address, port, name, cafile, timeout, then=get)
    for key in ("status", "hsts", "location"):
        found.setdefault(key, None)
    return found


def probe_http(address, name, timeout=10.0, port=80):
    """GET http://name/ from address: {address, port, name, status, location, error}."""
    found = {"address": address, "port": port, "name": name, "status": None, "location": None, "error": None}
    conn = http.client.HTTPConnection(address, port, timeout=timeout)
    try:
        conn.request("GET", "/", headers={"Host": name, "User-Agent": "fracto-gdpr-report"})
        response = conn.getresponse()
        found["status"] = response.status
        found["location"] = response.getheader("Location")
        response.read(65536)
    except (OSError, http.client.HTTPException) as exc:
        found["error"] = _error(exc)
    finally:
        conn.close()
    return found


def _closed(found, exc):
    """Fill found for a port that did not answer; a refused connection means no plaintext service at all."""
    found["open"] = False
    found["refused"] = _refused(exc)
    found["error"] = _error(exc)
    return found


def probe_imap(address, port=143, timeout=10.0):
    """Capabilities IMAP offers before STARTTLS: {open, refused, capabilities, error}."""
    found = {"address": address, "port": port, "protocol": "imap", "open": True, "refused": False, "capabilities": [],
             "error": None}
    try:
        client = imaplib.IMAP4(address, port, timeout=timeout)
    except (OSError, imaplib.IMAP4.error) as exc:
        return _closed(found, exc)
    try:
        found["capabilities"] = sorted(str(c).upper() for c in client.capabilities)
        client.logout()
    except (OSError, imaplib.IMAP4.error) as exc:
        found["error"] = _error(exc)
    return found


def probe_pop3(address, port=110, timeout=10.0):
    """POP3 in clear: its CAPA and the answer to USER (a probe name, never followed by PASS)."""
    found = {"address": address, "port": port, "protocol": "pop3", "open": True, "refused": False, "capabilities": [],
             "user_answer": None, "user_accepted": None, "error": None}
    try:
        client = poplib.POP3(address, port, timeout=timeout)
    except (OSError, poplib.error_proto) as exc:
        return _closed(found, exc)
    try:
        try:
            found["capabilities"] = sorted(("%s %s" % (k, " ".join(v))).strip().upper() for k, v in client.capa().items())
        except poplib.error_proto:
            found["capabilities"] = []
        try:
            answer = client.user(PROBE_USER)
            found["user_accepted"] = True
        except poplib.error_proto as exc:
            answer = exc.args[0] if exc.args else b""
            found["user_accepted"] = False
        found["user_answer"] = answer.decode(errors="replace") if isinstance(answer, bytes) else str(answer)
        client.quit()
    except (OSError, poplib.error_proto) as exc:
        found["error"] = found["error"] or _error(exc)
    return found


def probe_smtp(address, port, timeout=10.0):
    """What SMTP offers after EHLO and before STARTTLS: {open, refused, extensions, auth, starttls, error}."""
    found = {"address": address, "port": port, "protocol": "smtp", "open": True, "refused": False, "extensions": [],
             "auth": [], "starttls": False, "error": None}
    try:
        client = smtplib.SMTP(address, port, local_hostname="gdpr-probe.invalid", timeout=timeout)
    except (OSError, smtplib.SMTPException) as exc:
        return _closed(found, exc)
    try:
        client.ehlo()
        found["extensions"] = sorted(k.upper() for k in client.esmtp_features)
        found["auth"] = sorted((client.esmtp_features.get("auth") or "").upper().split())
        found["starttls"] = client.has_extn("starttls")
        client.quit()
    except (OSError, smtplib.SMTPException) as exc:
        found["error"] = _error(exc)
    return found


def probe_mail(address, name, cafile=None, timeout=10.0):
    """Every mail port of a mail name: the plaintext ones (what they allow) and the TLS ones (verified for name)."""
    return {
        "name": name, "address": address,
        "imap": probe_imap(address, 143, timeout),
        "pop3": probe_pop3(address, 110, timeout),
        "smtp": probe_smtp(address, 25, timeout),
        "submission": probe_smtp(address, 587, timeout),
        "imaps": probe_tls(address, 993, name, cafile, timeout),
        "pop3s": probe_tls(address, 995, name, cafile, timeout),
        "submissions": probe_tls(address, 465, name, cafile, timeout),
    }
