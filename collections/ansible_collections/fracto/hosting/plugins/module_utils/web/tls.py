# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Certificates of a web host: AutoSSL (ACME HTTP-01) and commercial bundles.

The module fracto.hosting.tls_certificates is a thin wrapper around CertificateRun. The pieces:

- CertificateStore: <store>/<id>/{fullchain.pem, privkey.pem, meta.json}, where <id> is a symlink to a
  version directory (<store>/.versions/<id>/<serial>/): a new certificate is written whole into a new
  version, then <id> is switched to it with one atomic rename, so nginx, Dovecot and postmap never read a
  key of one certificate beside the chain of another; the version replaced is kept for rollback.
- needs_order / plan_order / retry_wait: the decisions, pure functions.
- check_bundle: the host-side checks of a commercial bundle.
- HttpPrecheck / DnsPrecheck: domain control before ordering, like cPanel's AutoSSL.
- AcmeOrders: the orders, with certbot's acme package (python3-acme), ECDSA P-256 keys.

It runs on the managed host (Debian 12: cryptography 38, acme 2.1) and in the unit tests (a
recent cryptography): only APIs present in both are used. Nothing here puts key material into a
message, a diff or a result.
"""

from __future__ import annotations

import datetime
import hashlib
import http.client
import json
import math
import os
import re
import secrets
import shutil
import socket
import traceback
from concurrent.futures import ThreadPoolExecutor
from email.utils import parsedate_to_datetime

from ansible_collections.fracto.hosting.plugins.module_utils.files import write_atomic
from ansible_collections.fracto.hosting.plugins.module_utils.ledger import RESELLER
from ansible_collections.fracto.hosting.plugins.module_utils.state.certs import dns_names
from ansible_collections.fracto.hosting.plugins.module_utils.state.names import covered_by

try:
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa
    from cryptography.x509.oid import NameOID, SignatureAlgorithmOID
    HAS_CRYPTOGRAPHY = True
    CRYPTOGRAPHY_IMPORT_ERROR = None
except ImportError:  # pragma: no cover - depends on the host
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
    HAS_ACME = False
    ACME_IMPORT_ERROR = traceback.format_exc()

UTC = datetime.timezone.utc
CHALLENGE_PATH = ".well-known/acme-challenge"
DEFAULT_RETRY_AFTER = 3600          # seconds, when a 429/503 comes without a usable Retry-After
# A certificate whose notBefore is this little in the future counts as valid: CAs that do not backdate
# (Pebble) and a host clock a little behind the CA's would otherwise hide a certificate just issued.
CLOCK_SKEW = datetime.timedelta(minutes=5)
MAX_ACME_NAMES = 100
FILES = ("fullchain.pem", "privkey.pem", "meta.json")
USER_AGENT = "fracto.hosting-tls_certificates"
_SAFE_ID = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_PEM_CERT = re.compile(r"-----BEGIN CERTIFICATE-----\s.+?-----END CERTIFICATE-----", re.S)
_PEM_KEY = re.compile(r"-----BEGIN ((?:RSA |EC |ENCRYPTED )?)PRIVATE KEY-----\s.+?-----END \1PRIVATE KEY-----", re.S)


class ParameterError(ValueError):
    """The module's parameters are unusable (a programming error of the caller)."""


class BundleError(ValueError):
    """A certificate or key is refused; str() says why and never holds key material."""


class RateLimited(Exception):
    """The CA answered 429/503 (or rateLimited): retry after `seconds`."""

    def __init__(self, seconds, detail):
        super().__init__(detail)
        self.seconds = int(seconds)
        self.detail = detail


class OrderError(Exception):
    """An order failed; str() is the reason, for the report."""


# -- time ------------------------------------------------------------------------------------------
def now_utc():
    return datetime.datetime.now(UTC)


def iso(moment):
    return moment.astimezone(UTC).replace(microsecond=0).isoformat() if moment else None


def parse_iso(value):
    if not value:
        return None
    try:
        moment = datetime.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def span(delta):
    """A duration for people: 61d, 5h 20m, 42s."""
    seconds = int(delta.total_seconds())
    if seconds < 0:
        return "-" + span(-delta)
    if seconds >= 2 * 86400:
        return "%dd" % (seconds // 86400)
    if seconds >= 3600:
        return "%dh %dm" % (seconds // 3600, seconds % 3600 // 60)
    if seconds >= 60:
        return "%dm" % (seconds // 60)
    return "%ds" % seconds


def parse_retry_after(value, now=None, default=DEFAULT_RETRY_AFTER):
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date; default when absent or bad."""
    if value is None:
        return default
    value = str(value).strip()
    if value.isdigit():
        return int(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return default
    if when is None:
        return default
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0, int(math.ceil((when - (now or now_utc())).total_seconds())))


def retry_wait(meta, now, directory=None):
    """Seconds left before the CA (directory) may be asked again for this certificate (0: go ahead)."""
    meta = meta or {}
    if directory and meta.get("retry_directory") not in (None, directory):
        return 0        # the Retry-After of another CA
    when = parse_iso(meta.get("retry_after"))
    if when is None or when <= now:
        return 0
    return int(math.ceil((when - now).total_seconds()))


# -- certificates and keys, with the API of cryptography 38 and later ----------------------------
def load_certs(text, what="certificate"):
    if isinstance(text, bytes):
        text = text.decode("ascii", "replace")
    blocks = _PEM_CERT.findall(text or "")
    if not blocks:
        raise BundleError("%s is not a PEM certificate" % what)
    try:
        return [x509.load_pem_x509_certificate(block.encode("ascii")) for block in blocks]
    except (ValueError, UnicodeEncodeError):
        raise BundleError("%s could not be parsed as PEM certificates" % what)


def load_key(text, what="key"):
    if isinstance(text, bytes):
        text = text.decode("ascii", "replace")
    match = _PEM_KEY.search(text or "")
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


def check_bundle(cert_text, chain_text, key_text, names, now, warn_days=30):
    """Check a commercial bundle on the host; return its facts or raise BundleError.

    The key matches the certificate, each certificate is issued by the next one of the chain, the
    certificate covers every name (wildcards allowed) and is valid now. The facts hold the files to
    install ("fullchain", "privkey": bytes, never to be shown).
    """
    leaf = load_certs(cert_text, "cert")
    if len(leaf) != 1:
        raise BundleError("cert must hold exactly one certificate (put intermediates in chain)")
    leaf = leaf[0]
    chain = load_certs(chain_text, "chain") if chain_text and chain_text.strip() else []
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
    if not names:
        raise BundleError("no names are given for this certificate")
    missing = [n for n in names if not covered_by(n, san)]
    if missing:
        raise BundleError("certificate does not cover %s (it covers %s)" % (", ".join(missing), ", ".join(san) or "no DNS name"))
    return {
        "names": san, "not_before": not_before, "not_after": not_after, "days_left": (not_after - now).days,
        "expiring": (not_after - now) < datetime.timedelta(days=warn_days), "fingerprint": fingerprint(leaf),
        "issuer": leaf.issuer.rfc4514_string(),
        "fullchain": b"".join(cert_pem(c) for c in issued), "privkey": key_pem(key),
    }


def make_key():
    return ec.generate_private_key(ec.SECP256R1())


def make_csr(key, names):
    subject = [x509.NameAttribute(NameOID.COMMON_NAME, names[0])] if len(names[0]) <= 64 else []
    return (x509.CertificateSigningRequestBuilder().subject_name(x509.Name(subject))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
            .sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM))


def check_issued(fullchain_text, key, names):
    """The CA's answer holds a leaf for our key and exactly our names; return its PEM bytes, normalised."""
    certs = load_certs(fullchain_text, "the certificate returned by the CA")
    leaf = certs[0]
    if public_der(leaf.public_key()) != public_der(key.public_key()):
        raise OrderError("the CA returned a certificate for another key")
    if sorted(dns_names(leaf)) != sorted(names):
        raise OrderError("the CA returned a certificate for other names: %s" % ", ".join(dns_names(leaf)))
    return b"".join(cert_pem(c) for c in certs)


# -- the store ------------------------------------------------------------------------------------
VERSIONS = ".versions"
PREVIOUS = "previous"   # in .versions/<id>/: a symlink to the version replaced last


def point(link, target):
    """Make link a symlink to target, atomically (a new link renamed over the old one)."""
    tmp = os.path.join(os.path.dirname(link), ".%s.link-%s" % (os.path.basename(link), secrets.token_hex(4)))
    os.symlink(target, tmp)
    try:
        os.replace(tmp, link)
    except OSError:
        os.unlink(tmp)
        raise


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
                "fingerprint": _short(self.fingerprint)}


class CertificateStore:
    """<root>/<id>/{fullchain.pem, privkey.pem (0600), meta.json}, and <root>/.archive/."""

    def __init__(self, root):
        self.root = root

    def path(self, cert_id, name=None):
        if not _SAFE_ID.match(cert_id or ""):
            raise ParameterError("certificate id %r is not a safe file name" % (cert_id,))
        return os.path.join(self.root, cert_id, name) if name else os.path.join(self.root, cert_id)

    def ids(self):
        try:
            entries = os.listdir(self.root)
        except FileNotFoundError:
            return []
        return sorted(e for e in entries if _SAFE_ID.match(e) and os.path.isdir(os.path.join(self.root, e)))

    def read(self, cert_id, now):
        found = Installed(cert_id)
        try:
            with open(self.path(cert_id, "meta.json"), encoding="utf-8") as handle:
                meta = json.load(handle)
            found.meta = meta if isinstance(meta, dict) else {}
        except (OSError, ValueError):
            pass
        try:
            with open(self.path(cert_id, "fullchain.pem"), "rb") as handle:
                found.fullchain = handle.read()
        except OSError:
            return found
        found.exists = True
        try:
            leaf = load_certs(found.fullchain, "fullchain.pem")[0]
        except BundleError as exc:
            found.problem = str(exc)
            return found
        found.names = dns_names(leaf)
        found.not_before, found.not_after = validity(leaf)
        found.fingerprint = fingerprint(leaf)
        found.issuer = leaf.issuer.rfc4514_string()
        try:
            with open(self.path(cert_id, "privkey.pem"), "rb") as handle:
                data = handle.read()
        except OSError:
            found.problem = "privkey.pem is missing"
            return found
        found.privkey_digest = hashlib.sha256(data).hexdigest()
        try:
            key = load_key(data, "privkey.pem")
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

    def _dir(self, cert_id):
        os.makedirs(self.root, mode=0o755, exist_ok=True)
        path = self.path(cert_id)
        os.makedirs(path, mode=0o755, exist_ok=True)
        return path

    def _versions(self, cert_id):
        return os.path.join(self.root, VERSIONS, cert_id)

    def install(self, cert_id, fullchain, privkey, meta):
        """Write the three files into a new version (the key first, 0600), then switch <id> to it with one
        rename; the version replaced stays as the rollback target, older ones are removed."""
        link = self.path(cert_id)
        versions = self._versions(cert_id)
        os.makedirs(self.root, mode=0o755, exist_ok=True)
        os.makedirs(versions, mode=0o755, exist_ok=True)
        os.chmod(os.path.join(self.root, VERSIONS), 0o755)
        serial = "%s-%s" % (datetime.datetime.now(UTC).strftime("%Y%m%dT%H%M%S"), secrets.token_hex(3))
        version = os.path.join(versions, serial)
        os.mkdir(version, 0o755)
        for name, data, mode in (("privkey.pem", privkey, 0o600), ("fullchain.pem", fullchain, 0o644),
                                 ("meta.json", render_meta(meta), 0o644)):
            write_atomic(os.path.join(version, name), data, mode)
        replaced = None
        if os.path.islink(link):
            replaced = os.path.basename(os.path.realpath(link))
        elif os.path.isdir(link):
            # A store written before versions: its directory becomes the first version (a rename, once).
            replaced = "legacy-" + secrets.token_hex(3)
            os.rename(link, os.path.join(versions, replaced))
        point(link, os.path.join(VERSIONS, cert_id, serial))
        if replaced:
            point(os.path.join(versions, PREVIOUS), replaced)
        for entry in os.listdir(versions):
            if entry not in (serial, replaced, PREVIOUS):
                shutil.rmtree(os.path.join(versions, entry), ignore_errors=True)

    def write_meta(self, cert_id, meta):
        self._dir(cert_id)
        write_atomic(self.path(cert_id, "meta.json"), render_meta(meta), 0o644)

    def rollback(self, cert_id):
        """Switch <id> back to the version it replaced last (after a failed `nginx -t`); return the names
        restored ([] when there is none)."""
        previous = os.path.join(self._versions(cert_id), PREVIOUS)
        if not os.path.islink(previous) or not os.path.isdir(previous):
            return []
        point(self.path(cert_id), os.path.join(VERSIONS, cert_id, os.readlink(previous)))
        os.unlink(previous)
        return [name for name in FILES if os.path.exists(self.path(cert_id, name))]

    def archive(self, cert_id, now):
        """Move the current version to .archive/<id>-<timestamp>/ and drop <id> and its other versions;
        return the new path."""
        archive = os.path.join(self.root, ".archive")
        os.makedirs(archive, mode=0o700, exist_ok=True)
        target = os.path.join(archive, "%s-%s" % (cert_id, now.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")))
        if os.path.exists(target):
            target += "-" + secrets.token_hex(3)
        link = self.path(cert_id)
        if os.path.islink(link):
            os.rename(os.path.realpath(link), target)
            os.unlink(link)
            shutil.rmtree(self._versions(cert_id), ignore_errors=True)
        else:
            os.rename(link, target)
        return target


def render_meta(meta):
    return (json.dumps(meta, indent=2, sort_keys=True) + "\n").encode("utf-8")


def make_meta(entry, reseller, not_before, not_after, fp, issuer, names):
    return {"source": entry["source"], "names": list(names), "not_before": iso(not_before), "not_after": iso(not_after),
            "fingerprint": fp, "issuer": issuer, "client": entry["client"], "reseller": reseller}


# -- decisions ----------------------------------------------------------------------------------------
def needs_order(wanted_names, installed, now, renew_fraction):
    """Why an ACME certificate must be ordered now: (reason, [detail]), or None when the installed one serves.

    reason: "new" (nothing valid installed), "renew" (less than renew_fraction of the lifetime is left,
    whether or not the names changed), "names" (the wanted names changed).
    """
    if installed is None or not installed.valid:
        return "new", [installed.problem if installed is not None and installed.exists else "no certificate yet"]
    if installed.source not in (None, "acme"):
        return "names", ["source: %s -> acme" % installed.source]
    have, want = set(installed.names), set(wanted_names)
    changed = ["+ %s" % n for n in wanted_names if n not in have] + ["- %s" % n for n in installed.names if n not in want]
    lifetime = installed.not_after - installed.not_before
    left = installed.not_after - now
    if left < lifetime * renew_fraction:
        # Due whatever the names: a renewal may also drop names that fail the precheck.
        return "renew", ["renewal due: %s left of %s" % (span(left), span(lifetime))] + changed
    if changed:
        return "names", changed
    return None


def plan_order(wanted_names, failing, installed, reason):
    """What to order after the precheck: (names or None, lost, waiting).

    failing: {name: reason} of the names that failed the precheck. lost: names the installed, valid
    certificate covers that would lose coverage (coverage reduced). waiting: names that pass but are not
    ordered, because ordering them would drop lost names from a certificate that is not due.
    """
    ordered = [n for n in wanted_names if n not in failing]
    current = installed.names if installed is not None and installed.valid else None
    if current is None:
        return (ordered or None), [], []
    lost = [n for n in current if n in wanted_names and n in failing]
    if not ordered:
        return None, lost, []
    if reason == "renew":
        return ordered, lost, []
    if set(ordered) == set(current) and installed.source in (None, "acme"):
        return None, [], []
    if lost:
        return None, lost, [n for n in ordered if n not in current]
    return ordered, [], []


# -- domain control -------------------------------------------------------------------------------------
def _workers(count, cap=32):
    return max(1, min(cap, count))


class HttpPrecheck:
    """Fetch http://<name>/.well-known/acme-challenge/<token> for a token written in the webroot."""

    def __init__(self, webroot, timeout=5.0, workers=16):
        self.webroot = webroot
        self.timeout = timeout
        self.workers = workers

    def __call__(self, names):
        if not names:
            return {}
        directory = ensure_challenge_dir(self.webroot)
        token = "fracto-precheck-" + secrets.token_urlsafe(16)
        value = secrets.token_urlsafe(32)
        path = os.path.join(directory, token)
        write_atomic(path, value.encode("ascii"), 0o644)
        try:
            with ThreadPoolExecutor(max_workers=_workers(min(self.workers, len(names)))) as pool:
                answers = list(pool.map(lambda n: self.one(n, token, value), names))
        finally:
            os.unlink(path)
        return {name: why for name, why in zip(names, answers) if why}

    def one(self, name, token, value):
        """None when the name serves our token; otherwise why not."""
        try:
            addresses = sorted({info[4][0] for info in socket.getaddrinfo(name, 80, type=socket.SOCK_STREAM)})
        except socket.gaierror as exc:
            return "DNS: %s does not resolve (%s)" % (name, exc.strerror or exc)
        where = ", ".join(addresses)
        conn = http.client.HTTPConnection(name, 80, timeout=self.timeout)
        try:
            conn.request("GET", "/%s/%s" % (CHALLENGE_PATH, token), headers={"User-Agent": USER_AGENT, "Connection": "close"})
            response = conn.getresponse()
            body = response.read(4096)
        except socket.timeout:
            return "HTTP: no answer from %s port 80 within %gs" % (where, self.timeout)
        except (OSError, http.client.HTTPException) as exc:
            return "HTTP: %s port 80: %s" % (where, getattr(exc, "strerror", None) or exc.__class__.__name__)
        finally:
            conn.close()
        if response.status != 200:
            return "HTTP %d from %s for the challenge path (does the name point to this host?)" % (response.status, where)
        if body.strip() != value.encode("ascii"):
            return "%s answers the challenge path with other content: the name points to another server" % where
        return None


class DnsPrecheck:
    """Check mode: the names must resolve (nothing is written, so no token can be fetched)."""

    def __init__(self, workers=16):
        self.workers = workers

    def __call__(self, names):
        def one(name):
            try:
                socket.getaddrinfo(name, 80, type=socket.SOCK_STREAM)
            except socket.gaierror as exc:
                return "DNS: %s does not resolve (%s)" % (name, exc.strerror or exc)
            return None
        if not names:
            return {}
        with ThreadPoolExecutor(max_workers=_workers(min(self.workers, len(names)))) as pool:
            answers = list(pool.map(one, names))
        return {name: why for name, why in zip(names, answers) if why}


def ensure_challenge_dir(webroot):
    directory = os.path.join(webroot, CHALLENGE_PATH)
    for path in (webroot, os.path.join(webroot, ".well-known"), directory):
        if not os.path.isdir(path):
            os.makedirs(path, mode=0o755, exist_ok=True)
            os.chmod(path, 0o755)
    return directory


def unreadable_ancestor(path):
    """The first directory on the way to path that others (nginx's workers) cannot traverse, or None."""
    path = os.path.abspath(path)
    parts = path.strip("/").split("/")
    for i in range(1, len(parts) + 1):
        current = "/" + "/".join(parts[:i])
        try:
            mode = os.stat(current).st_mode
        except OSError:
            return None
        if not mode & 0o001:
            return current, mode & 0o7777
    return None


# -- ACME -------------------------------------------------------------------------------------------------
def _network_class():
    class ThrottleAwareNetwork(acme_client.ClientNetwork):
        """Remembers a 429/503 and its Retry-After: acme raises the problem document without the headers."""

        throttled = None

        def _send_request(self, method, url, *args, **kwargs):
            response = super()._send_request(method, url, *args, **kwargs)
            if response.status_code in (429, 503):
                self.throttled = (response.status_code, response.headers.get("Retry-After"))
            return response
    return ThrottleAwareNetwork


class AcmeOrders:
    """Orders over ACME HTTP-01 with certbot's acme package; one account per reseller."""

    def __init__(self, directory_url, account_dir, reseller, contact_email, webroot, timeout=120, now=now_utc):
        self.directory_url = directory_url
        self.account_dir = os.path.join(account_dir, reseller)
        self.contact_email = contact_email
        self.webroot = webroot
        self.timeout = timeout
        self.now = now
        self.jwk = self.regr = self.directory = None
        self.account_changed = False

    def _net(self, account=None):
        return _network_class()(self.jwk, account=account, alg=jose.ES256, user_agent=USER_AGENT, timeout=30)

    def _account_key(self):
        path = os.path.join(self.account_dir, "account.key")
        try:
            with open(path, "rb") as handle:
                return load_key(handle.read(), "account.key")
        except FileNotFoundError:
            pass
        os.makedirs(self.account_dir, mode=0o700, exist_ok=True)
        key = make_key()
        write_atomic(path, key_pem(key), 0o600)
        self.account_changed = True
        return key

    def connect(self):
        """Load or create the account key, then find or register the account (a Pebble restart forgets it)."""
        net = None
        try:
            self.jwk = jose.JWKEC(key=self._account_key())
            net = self._net()
            self.directory = acme_client.ClientV2.get_directory(self.directory_url, net)
            client = acme_client.ClientV2(self.directory, net)
            new = messages.NewRegistration.from_data(email=self.contact_email, terms_of_service_agreed=True)
            recorded = self._read_account()
            try:
                self.regr = client.new_account(new)
            except acme_errors.ConflictError as exc:
                self.regr = messages.RegistrationResource(uri=exc.location, body=messages.Registration())
                net.account = self.regr
                if recorded.get("contact_email") != self.contact_email and self.contact_email:
                    self.regr = client.update_registration(self.regr, messages.Registration.from_data(email=self.contact_email))
            account = {"uri": self.regr.uri, "directory": self.directory_url, "contact_email": self.contact_email}
            if account != recorded:
                write_atomic(os.path.join(self.account_dir, "account.json"),
                             (json.dumps(account, indent=2, sort_keys=True) + "\n").encode("utf-8"), 0o600)
                self.account_changed = True
        except Exception as exc:  # every failure of the account step is reported per certificate
            raise self._translate(exc, net, "ACME account")

    def _read_account(self):
        try:
            with open(os.path.join(self.account_dir, "account.json"), encoding="utf-8") as handle:
                return json.load(handle)
        except (OSError, ValueError):
            return {}

    def order(self, names, key):
        """Order a certificate for names and key (our ECDSA key); return the full chain as text."""
        net = self._net(self.regr)
        client = acme_client.ClientV2(self.directory, net)
        written = []
        try:
            orderr = client.new_order(make_csr(key, names))
            directory = ensure_challenge_dir(self.webroot)
            for authzr in orderr.authorizations:
                if authzr.body.status == messages.STATUS_VALID:
                    continue
                challb = next((c for c in authzr.body.challenges if isinstance(c.chall, challenges.HTTP01)), None)
                if challb is None:
                    raise OrderError("%s: the CA offers no http-01 challenge" % authzr.body.identifier.value)
                response, validation = challb.response_and_validation(self.jwk)
                path = os.path.join(directory, challb.chall.encode("token"))
                write_atomic(path, validation.encode("ascii"), 0o644)
                written.append(path)
                client.answer_challenge(challb, response)
            deadline = datetime.datetime.now() + datetime.timedelta(seconds=self.timeout)
            return client.poll_and_finalize(orderr, deadline).fullchain_pem
        except OrderError:
            raise
        except Exception as exc:
            raise self._translate(exc, net, "order")
        finally:
            for path in written:
                try:
                    os.unlink(path)
                except OSError:
                    pass

    def _translate(self, exc, net, step):
        if isinstance(exc, (RateLimited, OrderError)):
            return exc
        throttled = getattr(net, "throttled", None)
        if throttled or (isinstance(exc, messages.Error) and exc.code == "rateLimited"):
            status, header = throttled or (429, None)
            seconds = parse_retry_after(header, self.now())
            detail = exc.detail if isinstance(exc, messages.Error) and exc.detail else "HTTP %d" % status
            return RateLimited(seconds, "%s: HTTP %d from the CA (%s)" % (step, status, detail))
        if isinstance(exc, acme_errors.ValidationError):
            problems = []
            for authzr in exc.failed_authzrs:
                for chall in authzr.body.challenges:
                    if chall.error is not None:
                        problems.append("%s: %s" % (authzr.body.identifier.value, chall.error.detail or chall.error.typ))
            return OrderError("validation failed: %s" % "; ".join(problems))
        if isinstance(exc, acme_errors.TimeoutError):
            return OrderError("%s: the CA did not finish within %d s" % (step, self.timeout))
        if isinstance(exc, messages.Error):
            return OrderError("%s: %s" % (step, exc.detail or exc.typ))
        if isinstance(exc, requests.RequestException):
            return OrderError("%s: cannot reach the CA (%s)" % (step, exc.__class__.__name__))
        return OrderError("%s: %s" % (step, exc or exc.__class__.__name__))


# -- the run ----------------------------------------------------------------------------------------------
def _change(action, cert_id, client, detail):
    return {"action": action, "kind": "certificate", "id": cert_id, "client": client, "detail": list(detail)}


def diff_text(views):
    """{id: {source, names, not_after, fingerprint} or None} -> readable text, no key material."""
    lines = []
    for cert_id in sorted(views):
        view = views[cert_id]
        if view is None:
            continue
        lines.append("certificate %s" % cert_id)
        lines.append("  source: %s" % view["source"])
        lines.append("  names: %s" % ", ".join(view["names"]))
        lines.append("  not_after: %s" % view["not_after"])
        lines.append("  fingerprint: %s" % view.get("fingerprint", "none"))
    return "\n".join(lines) + ("\n" if lines else "")


class CertificateRun:
    """One converge of every certificate of a host.

    precheck: callable(names) -> {name: reason} of the failing names (HttpPrecheck; DnsPrecheck in
    check mode). acme: an object with order(names, key) -> full chain text (AcmeOrders, after connect()).
    Both are built from the parameters when not given (the unit tests give fakes).
    """

    def __init__(self, params, check_mode=False, now=None, store=None, precheck=None, acme=None):
        self.p = dict(DEFAULTS, **params)
        self.check_mode = check_mode
        # The time of the decisions; what is present at the end is judged at the end (orders take time).
        self.clock = now if callable(now) else ((lambda: now) if now is not None else now_utc)
        self.now = self.clock()
        self.store = store or CertificateStore(self.p["store"])
        self._precheck = precheck
        self._acme = acme
        self.warnings = []
        self.changes = {}
        self.before_views, self.after_views = {}, {}
        self.r = {"issued": [], "renewed": [], "installed": [], "removed": [], "skipped_names": {}, "coverage_reduced": {},
                  "rate_limited": {}, "refused": {}, "failed_orders": {}}

    # parameters
    def _entries(self):
        entries, seen = [], set()
        for raw in self.p["certificates"] or []:
            entry = dict(raw)
            cert_id = entry.get("id")
            self.store.path(cert_id)  # raises ParameterError for an unsafe id
            if cert_id in seen:
                raise ParameterError("certificate id %s is given twice" % cert_id)
            seen.add(cert_id)
            if entry.get("source") not in ("acme", "custom"):
                raise ParameterError("certificate %s: source must be acme or custom" % cert_id)
            names = []
            for name in entry.get("names") or []:
                name = str(name).lower().rstrip(".")
                if name not in names:
                    names.append(name)
            entry["names"] = names
            if entry["source"] == "acme":
                if not names:
                    raise ParameterError("certificate %s: an ACME certificate needs names" % cert_id)
                if len(names) > MAX_ACME_NAMES:
                    raise ParameterError("certificate %s: %d names, at most %d per ACME certificate" % (cert_id, len(names), MAX_ACME_NAMES))
                if any(n.startswith("*.") for n in names):
                    raise ParameterError("certificate %s: wildcards cannot be validated over HTTP-01" % cert_id)
            entries.append(entry)
        if any(e["source"] == "acme" for e in entries):
            if not self.p.get("acme_directory"):
                raise ParameterError("acme_directory is required when an ACME certificate is wanted")
            if not _SLUG.match(self.p.get("reseller") or ""):
                raise ParameterError("reseller (a slug) is required when an ACME certificate is wanted: it names the ACME account")
        if not 0 < self.p["renew_fraction"] <= 1:
            raise ParameterError("renew_fraction must be in (0, 1]")
        if self.p["concurrency"] < 1:
            raise ParameterError("concurrency must be at least 1")
        return entries

    def run(self):
        entries = self._entries()
        reseller = self.p.get("reseller")
        wanted = {e["id"]: e for e in entries}
        ids = sorted(set(wanted) | set(self.store.ids()))
        found = {cert_id: self.store.read(cert_id, self.now) for cert_id in ids}
        self.found = found
        customs = [e for e in entries if e["source"] == "custom"]
        acmes = [e for e in entries if e["source"] == "acme"]
        installs = [self._plan_custom(e, found[e["id"]]) for e in customs]
        installs = [i for i in installs if i]
        orders = self._plan_acme(acmes, customs, found)
        metas = self._plan_meta(entries, found, reseller, {i["id"] for i in installs} | {o["id"] for o in orders})
        removals = self._plan_removals(wanted, found, reseller)
        if not self.check_mode:
            self._apply(installs, orders, metas, removals, reseller)
        else:
            for item in installs + orders + metas + removals:
                self._record(item)
        return self._result(wanted, found, removals, installs, orders)

    # custom bundles
    def _plan_custom(self, entry, installed):
        cert_id, client = entry["id"], entry["client"]
        try:
            facts = check_bundle(entry.get("cert"), entry.get("chain"), entry.get("key"), entry["names"], self.now,
                                 self.p["validity_warning_days"])
        except BundleError as exc:
            self.r["refused"][cert_id] = str(exc)
            if installed.valid:
                self.changes[cert_id] = _change("keep", cert_id, client, ["refused: %s; the installed certificate stays" % exc])
            return None
        meta = make_meta(entry, self.p.get("reseller"), facts["not_before"], facts["not_after"], facts["fingerprint"],
                         facts["issuer"], facts["names"])
        same_files = (installed.fullchain == facts["fullchain"]
                      and installed.privkey_digest == hashlib.sha256(facts["privkey"]).hexdigest())
        if same_files and installed.valid:
            return None  # a meta-only difference is handled by _plan_meta
        if installed.exists:
            detail = ["fingerprint: %s -> %s" % (_short(installed.fingerprint), _short(facts["fingerprint"]))]
            if installed.fingerprint == facts["fingerprint"]:
                detail = ["key or chain replaced" if installed.valid else "reinstalled: %s" % installed.problem]
        else:
            detail = ["install: %s (expires %s)" % (", ".join(entry["names"]), iso(facts["not_after"]))]
        return {"op": "install", "id": cert_id, "client": client, "action": "change" if installed.exists else "create",
                "detail": detail, "fullchain": facts["fullchain"], "privkey": facts["privkey"], "meta": meta,
                "names": facts["names"], "not_after": facts["not_after"],
                "view": {"source": "custom", "names": facts["names"], "not_after": iso(facts["not_after"]),
                         "fingerprint": _short(facts["fingerprint"])}}

    # ACME
    def _plan_acme(self, acmes, customs, found):
        custom_names = {}
        for entry in customs:
            for name in entry["names"]:
                custom_names.setdefault(name, entry["id"])
        candidates = []
        for entry in acmes:
            cert_id = entry["id"]
            names = []
            for name in entry["names"]:
                if name in custom_names:
                    self.r["skipped_names"][name] = "covered by the custom certificate %s" % custom_names[name]
                else:
                    names.append(name)
            if not names:
                continue
            installed = found[cert_id]
            why = needs_order(names, installed, self.now, self.p["renew_fraction"])
            if why is None:
                continue
            wait = retry_wait(installed.meta, self.now, self.p.get("acme_directory"))
            if wait:
                self.r["rate_limited"][cert_id] = "retry after %d s" % wait
                if installed.valid:
                    what = {"renew": "renewal", "names": "order for the new names"}.get(why[0], "order")
                    self.changes[cert_id] = _change("keep", cert_id, entry["client"],
                                                    ["%s postponed: rate limited by the CA, retry after %d s" % (what, wait)])
                continue
            candidates.append((entry, names, installed, why))
        failing = self._run_precheck(sorted({n for _e, names, _i, _w in candidates for n in names}))
        orders = []
        for entry, names, installed, (reason, detail) in candidates:
            cert_id = entry["id"]
            bad = {n: failing[n] for n in names if n in failing}
            self.r["skipped_names"].update(bad)
            ordered, lost, waiting = plan_order(names, bad, installed, reason)
            if lost:
                self.r["coverage_reduced"][cert_id] = lost
            for name in waiting:
                self.r["skipped_names"][name] = ("not ordered: the new certificate would drop %s from %s, which is still valid"
                                                 % (", ".join(lost), cert_id))
            if ordered is None:
                if lost:
                    self.changes[cert_id] = _change("keep", cert_id, entry["client"], [
                        "coverage reduced: %s failed the precheck; the installed certificate still covers them until %s"
                        % (", ".join(lost), iso(installed.not_after))])
                continue
            if installed.valid:
                # What the new certificate changes, after the precheck (not what the state asked for).
                moved = (["+ %s" % n for n in ordered if n not in installed.names]
                         + ["- %s" % n for n in installed.names if n not in ordered])
                if lost:
                    moved.append("coverage reduced: %s failed the precheck" % ", ".join(lost))
                detail = (detail[:1] + moved) if reason == "renew" else (moved or detail)
            elif not installed.exists:
                detail = ["order: %s" % ", ".join(ordered)]
            orders.append({"op": "order", "id": cert_id, "client": entry["client"], "entry": entry, "names": ordered,
                           "reason": "renew" if reason == "renew" else "issue",
                           "action": "change" if installed.exists else "create", "detail": detail,
                           "view": {"source": "acme", "names": ordered, "not_after": "(set when issued)",
                                    "fingerprint": "(new key)"}})
        return orders

    def _run_precheck(self, names):
        if not names or not self.p["precheck"]:
            return {}
        precheck = self._precheck
        if precheck is None:
            workers = 4 * self.p["concurrency"]
            precheck = DnsPrecheck(workers) if self.check_mode else HttpPrecheck(self.p["webroot"], self.p["precheck_timeout"], workers)
        try:
            return precheck(names)
        except OSError as exc:
            reason = "precheck: cannot write the token into %s: %s" % (self.p["webroot"], exc.strerror or exc)
            return dict.fromkeys(names, reason)

    # meta records that lag behind (client moved, meta lost)
    def _plan_meta(self, entries, found, reseller, planned):
        metas = []
        for entry in entries:
            installed = found[entry["id"]]
            if entry["id"] in planned or entry["id"] in self.changes or not installed.valid:
                continue
            meta = make_meta(entry, reseller, installed.not_before, installed.not_after, installed.fingerprint,
                             installed.issuer, installed.names)
            current = {k: v for k, v in installed.meta.items() if not k.startswith("retry_")}
            if current != meta:
                detail = ["%s: %s -> %s" % (k, _show(installed.meta.get(k)), _show(meta[k]))
                          for k in ("client", "reseller", "source") if installed.meta.get(k) != meta[k]] or ["record updated"]
                metas.append({"op": "meta", "id": entry["id"], "client": entry["client"], "action": "change",
                              "detail": detail, "meta": meta, "view": None})
        return metas

    def _plan_removals(self, wanted, found, reseller):
        present = set(self.p["clients"] or []) | {RESELLER}
        removals = []
        for cert_id, installed in sorted(found.items()):
            if cert_id in wanted or not installed.meta:
                continue   # wanted, or not written by this module: never touched
            if installed.meta.get("reseller") != reseller:
                continue   # another reseller's certificate on a shared host
            client = installed.client
            if client in present or self.p["prune"]:
                removals.append({"op": "remove", "id": cert_id, "client": client, "action": "remove",
                                 "detail": ["archived under %s/.archive/" % self.store.root], "view": None})
            else:
                self.changes[cert_id] = _change("keep", cert_id, client, [
                    "client %s is gone from the state; kept until a run with prune" % client])
        return removals

    # doing it
    def _apply(self, installs, orders, metas, removals, reseller):
        for item in installs:
            self.store.install(item["id"], item["fullchain"], item["privkey"], item["meta"])
            self._record(item)
        for item in metas:
            meta = dict(item["meta"])
            retry = {k: v for k, v in self.found[item["id"]].meta.items() if k.startswith("retry_")}
            self.store.write_meta(item["id"], dict(meta, **retry))
            self._record(item)
        for item in removals:
            self.store.archive(item["id"], self.now)
            self._record(item)
        if orders:
            self._apply_orders(orders, reseller)

    def _apply_orders(self, orders, reseller):
        acme = self._acme
        try:
            if acme is None:
                acme = AcmeOrders(self.p["acme_directory"], self.p["account_dir"], reseller, self.p.get("contact_email"),
                                  self.p["webroot"], self.p["order_timeout"])
                acme.connect()
        except RateLimited as exc:
            for item in orders:
                self._rate_limited(item, exc, reseller)
            return
        except OrderError as exc:
            for item in orders:
                self._failed(item, str(exc))
            return

        def one(item):
            try:
                key = make_key()
                fullchain = check_issued(acme.order(item["names"], key), key, item["names"])
                leaf = load_certs(fullchain)[0]
                not_before, not_after = validity(leaf)
                meta = make_meta(item["entry"], reseller, not_before, not_after, fingerprint(leaf),
                                 leaf.issuer.rfc4514_string(), item["names"])
                self.store.install(item["id"], fullchain, key_pem(key), meta)
                return item, None, {"source": "acme", "names": item["names"], "not_after": iso(not_after),
                                    "fingerprint": _short(meta["fingerprint"])}
            except (RateLimited, OrderError, BundleError, OSError) as exc:
                return item, exc, None
            except Exception as exc:  # one order never stops the others
                return item, OrderError("%s: %s" % (exc.__class__.__name__, exc)), None

        with ThreadPoolExecutor(max_workers=_workers(min(self.p["concurrency"], len(orders)))) as pool:
            outcomes = list(pool.map(one, orders))
        for item, exc, view in outcomes:
            if exc is None:
                item["view"] = view
                self._record(item)
            elif isinstance(exc, RateLimited):
                self._rate_limited(item, exc, reseller)
            else:
                self._failed(item, str(exc))

    def _rate_limited(self, item, exc, reseller):
        cert_id = item["id"]
        self.r["rate_limited"][cert_id] = "retry after %d s" % exc.seconds
        installed = self.found[cert_id]
        meta = dict(installed.meta) if installed.meta else {"source": "acme", "names": item["names"], "client": item["client"],
                                                            "reseller": reseller}
        meta["retry_after"] = iso(self.clock() + datetime.timedelta(seconds=exc.seconds))
        meta["retry_reason"] = exc.detail
        meta["retry_directory"] = self.p.get("acme_directory")
        try:
            self.store.write_meta(cert_id, meta)
        except OSError as err:
            self.warnings.append("certificate %s: cannot record the Retry-After of the CA: %s" % (cert_id, err))
        if installed.valid:
            self.changes[cert_id] = _change("keep", cert_id, item["client"], ["rate limited by the CA, retry after %d s" % exc.seconds])

    def _failed(self, item, reason):
        cert_id = item["id"]
        self.r["failed_orders"][cert_id] = reason
        if self.found[cert_id].valid:
            self.changes[cert_id] = _change("keep", cert_id, item["client"], ["order failed: %s; the installed certificate stays" % reason])

    def _record(self, item):
        cert_id = item["id"]
        self.changes[cert_id] = _change(item["action"], cert_id, item["client"], item["detail"])
        if item["op"] == "install":
            self.r["installed"].append(cert_id)
        elif item["op"] == "order":
            self.r["renewed" if item["reason"] == "renew" else "issued"].append(cert_id)
        elif item["op"] == "remove":
            self.r["removed"].append(cert_id)
        if item["op"] != "meta":
            self.before_views[cert_id] = self.found[cert_id].view()
            self.after_views[cert_id] = item["view"]

    # the result
    def _result(self, wanted, found, removals, installs, orders):
        removed = {i["id"] for i in removals}
        kept = [cid for cid, ch in self.changes.items() if ch["action"] == "keep" and cid not in wanted]
        planned = {i["id"]: i for i in installs}
        planned.update((o["id"], o) for o in orders if o["id"] in self.r["issued"] + self.r["renewed"])
        present, covered = [], {}
        end = self.clock()
        for cert_id in sorted(set(wanted) | set(kept)):
            if cert_id in removed:
                continue
            if self.check_mode and cert_id in planned:
                # What the run would install; a new ACME certificate has no expiry date yet.
                names, not_after = planned[cert_id]["names"], planned[cert_id].get("not_after")
            else:
                installed = self.store.read(cert_id, end) if cert_id in self.changes and not self.check_mode else found[cert_id]
                if not installed.valid:
                    continue
                names, not_after = installed.names, installed.not_after
            present.append(cert_id)
            covered[cert_id] = list(names)
            if not_after is not None and not_after - end < datetime.timedelta(days=self.p["validity_warning_days"]):
                self.warnings.append("certificate %s expires in %s (%s)" % (cert_id, span(not_after - end), iso(not_after)))
        for key in ("issued", "renewed", "installed", "removed"):
            self.r[key] = sorted(self.r[key])
        changes = [self.changes[cid] for cid in sorted(self.changes)]
        changed = any(c["action"] != "keep" for c in changes)
        return dict(self.r, changed=changed, changes=changes, present=present, covered=covered,
                    diff={"before": diff_text(self.before_views), "after": diff_text(self.after_views)},
                    warnings=list(self.warnings))

    def failure_message(self, result):
        parts = ["%s: refused: %s" % (cid, why) for cid, why in sorted(result["refused"].items())]
        parts += ["%s: order failed: %s" % (cid, why) for cid, why in sorted(result["failed_orders"].items())]
        return ("%d certificate(s) failed: " % len(parts)) + "; ".join(parts) if parts else None


def _short(fp):
    return fp[:16] if fp else "none"


def _show(value):
    return "none" if value is None else str(value)


DEFAULTS = {
    "certificates": [], "clients": [], "prune": False, "store": "/etc/fracto/tls", "webroot": "/var/lib/fracto/acme",
    "acme_directory": None, "contact_email": None, "account_dir": "/etc/fracto/acme", "reseller": None,
    "renew_fraction": 0.3333, "concurrency": 4, "precheck": True, "precheck_timeout": 5.0, "order_timeout": 120,
    "validity_warning_days": 30,
}
