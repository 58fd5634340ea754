# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fakes and helpers of the certificate tests (test_tls_*.py): a fake ACME CA, a fake precheck, runs.

No network: the ACME CA and the precheck are fakes; certificates are made with cryptography. Not a test module:
imported by its full name, as conftest is not (two conftest modules may be loaded in one run).
"""

from __future__ import annotations

import datetime
import os

from ansible_collections.fracto.hosting.plugins.module_utils.tls.installed import Installed, read_installed
from ansible_collections.fracto.hosting.plugins.module_utils.tls.run import CertificateRun
from ansible_collections.fracto.hosting.plugins.module_utils.tls.store import CertificateStore
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

SECRET_MARK = "UNIT-SECRET"      # in every custom key of conftest's make_bundle
UTC = datetime.timezone.utc
NOW = datetime.datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
NAMES = ["cliente1.test", "www.cliente1.test"]


# -- helpers -----------------------------------------------------------------------------------------
class FakeCA:
    """Signs whatever is ordered; can answer 429 or fail; records the orders."""

    def __init__(self, days=90, start=None):
        self.key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Fake ACME CA")])
        self.name = name
        self.cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(self.key.public_key())
                     .serial_number(x509.random_serial_number()).not_valid_before(NOW - datetime.timedelta(days=3650))
                     .not_valid_after(NOW + datetime.timedelta(days=3650))
                     .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True).sign(self.key, hashes.SHA256()))
        self.days = days
        self.start = start or (NOW - datetime.timedelta(hours=1))
        self.orders = []
        self.fail = {}       # frozenset(names) -> exception to raise

    def order(self, names, key):
        self.orders.append(list(names))
        exc = self.fail.get(frozenset(names))
        if exc is not None:
            raise exc
        return self.issue(names, key.public_key())

    def issue(self, names, public_key, start=None, days=None):
        start = start or self.start
        leaf = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
                .issuer_name(self.name).public_key(public_key).serial_number(x509.random_serial_number())
                .not_valid_before(start).not_valid_after(start + datetime.timedelta(days=days or self.days))
                .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
                .sign(self.key, hashes.SHA256()))
        pem = serialization.Encoding.PEM
        return (leaf.public_bytes(pem) + self.cert.public_bytes(pem)).decode("ascii")


class FakePrecheck:
    def __init__(self, failing=None):
        self.failing = dict(failing or {})
        self.asked = []

    def __call__(self, names):
        self.asked.append(list(names))
        return {n: why for n, why in self.failing.items() if n in names}


def acme(cert_id, names, client="cliente1"):
    return {"id": cert_id, "client": client, "source": "acme", "names": list(names)}


def custom(cert_id, bundle, names, client="cliente1"):
    return {"id": cert_id, "client": client, "source": "custom", "names": list(names), "cert": bundle["cert"],
            "chain": bundle["chain"], "key": bundle["key"], "fingerprint": None, "not_after": None}


def params(tmp_path, certificates, **extra):
    base = {"certificates": certificates, "clients": ["cliente1", "cliente2"], "reseller": "demo",
            "store": str(tmp_path / "tls"), "webroot": str(tmp_path / "acme"), "account_dir": str(tmp_path / "accounts"),
            "acme_directory": "https://acme.invalid/dir", "contact_email": "ops@example.test"}
    base.update(extra)
    return base


def run(tmp_path, certificates, ca=None, precheck=None, now=NOW, check_mode=False, **extra):
    runner = CertificateRun(params(tmp_path, certificates, **extra), check_mode=check_mode, now=now,
                            precheck=precheck or FakePrecheck(), acme=ca or FakeCA())
    return runner.run()


def installed(tmp_path, cert_id, now=NOW):
    return read_installed(CertificateStore(str(tmp_path / "tls")), cert_id, now)


def snapshot(root):
    """Every file under root with its content: to prove that nothing was written."""
    out = {}
    for base, _dirs, files in os.walk(root):
        for name in files:
            path = os.path.join(base, name)
            with open(path, "rb") as handle:
                out[path] = handle.read()
    return out


def fake_installed(names, not_before, not_after, valid=True, source="acme"):
    found = Installed("x")
    found.exists = True
    found.valid = valid
    found.problem = None if valid else "expired on ..."
    found.names = list(names)
    found.not_before, found.not_after = not_before, not_after
    found.meta = {"source": source}
    return found
