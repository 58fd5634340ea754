# -*- coding: utf-8 -*-
"""Shared helpers for the inventory tests: throwaway certificates made with cryptography.

The base inventory (tests/base_inventory) carries one committed commercial
certificate for shop.alfa.test, issued by a throwaway CA and valid ten years; it
was made with make_bundle() below:

    .venv/bin/python tests/conftest.py > /tmp/bundle.txt   # prints cert, chain, key

The bad inventories need more bundles (expired, other names, a key that does not
match); the session fixture `pems` makes them fresh on every run.
"""

from __future__ import annotations

import datetime
import pathlib

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

TESTS_DIR = pathlib.Path(__file__).resolve().parent
BASE_INVENTORY = TESTS_DIR / "base_inventory"
# Every plain secret of the base inventory contains this; it must never be printed.
SENTINEL = "SENTINEL-SECRET"


def _name(common_name, org="Fracto throwaway test CA"):
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def make_ca(common_name="Fracto Test Commercial CA (throwaway)", days=3660, now=None):
    """A self-signed CA: (key, cert)."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(_name(common_name)).issuer_name(_name(common_name))
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    return key, cert


def make_leaf(ca, names, not_before, not_after):
    """A TLS server certificate for names, issued by ca=(key, cert): (key, cert)."""
    ca_key, ca_cert = ca
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(_name(names[0], "Throwaway client")).issuer_name(ca_cert.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(not_before).not_valid_after(not_after)
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    return key, cert


def cert_pem(cert):
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


def key_pem(key, label=None):
    """PKCS#8 PEM; label is put before the PEM block as explanatory text (RFC 7468), e.g. the sentinel."""
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode("ascii")
    return "%s\n%s" % (label, pem) if label else pem


def make_bundle(names, valid_from_days=-1, valid_to_days=3650, label=None, ca=None):
    """{"cert", "chain", "key"} PEMs for names; validity given in days relative to now."""
    now = datetime.datetime.now(datetime.timezone.utc)
    ca = ca or make_ca(now=now + datetime.timedelta(days=min(valid_from_days, 0)), days=max(valid_to_days, 1) + 10)
    key, cert = make_leaf(ca, names, now + datetime.timedelta(days=valid_from_days),
                          now + datetime.timedelta(days=valid_to_days))
    return {"cert": cert_pem(cert), "chain": cert_pem(ca[1]), "key": key_pem(key, label)}


def load_base_vars():
    """Every top-level variable of tests/base_inventory/{platform,reseller}/group_vars/all/*.yml, merged."""
    merged = {}
    for part in ("platform", "tester"):
        for path in sorted((BASE_INVENTORY / part / "group_vars" / "all").glob("*.yml")):
            merged.update(yaml.safe_load(path.read_text(encoding="utf-8")) or {})
    return merged


@pytest.fixture
def base_vars():
    """A function returning a fresh copy of the base inventory's variables."""
    return load_base_vars


class _Secrets(dict):
    """A dict that never shows its values (pytest prints fixture values when a test fails)."""

    def __repr__(self):
        return "<%d PEM texts: %s>" % (len(self), ", ".join(sorted(self)))


@pytest.fixture(scope="session")
def pems():
    """PEM texts by placeholder name (see tests/test_bad_inventories.py, @PEM:<name>@)."""
    return make_pems()


def make_pems():
    base = load_base_vars()["fracto_clients"]["alfa"]["certificates"][0]
    texts = {"shop.cert": base["cert"], "shop.chain": base["chain"], "shop.key": base["key"]}
    other_key = ec.generate_private_key(ec.SECP256R1())
    texts["other.key"] = key_pem(other_key, "other-key-%s" % SENTINEL)
    # Expired: valid from 400 days ago until 10 days ago, issued by a CA that is still valid.
    now = datetime.datetime.now(datetime.timezone.utc)
    ca = make_ca(now=now - datetime.timedelta(days=500), days=1000)
    expired = make_bundle(["shop.alfa.test"], -400, -10, label="expired-key-%s" % SENTINEL, ca=ca)
    # Valid, but for names that no client of the base inventory has.
    elsewhere = make_bundle(["shop.elsewhere.test"], label="elsewhere-key-%s" % SENTINEL)
    for prefix, bundle in (("expired", expired), ("elsewhere", elsewhere)):
        for part, text in bundle.items():
            texts["%s.%s" % (prefix, part)] = text
    return _Secrets(texts)


if __name__ == "__main__":  # pragma: no cover - regenerates the base inventory's bundle
    bundle = make_bundle(["shop.alfa.test"], label="# alfa shop-ov key, test only: %s-alfa-shop-key" % SENTINEL)
    for part in ("cert", "chain", "key"):
        print("%s: |\n%s" % (part, "".join("  " + line + "\n" for line in bundle[part].splitlines())))
