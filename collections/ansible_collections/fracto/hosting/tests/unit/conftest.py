# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures of the unit tests: a small valid reseller state, plain Python, no Ansible run.

    cd <repo> && PYTHONPATH=collections .venv/bin/python -m pytest collections/ansible_collections/fracto/hosting/tests/unit -q

The collections directory is also put on sys.path here, so PYTHONPATH may be left out.
Every secret below contains SECRET_MARK ("UNIT-SECRET", repeated in the test modules, which do not
import this file); tests assert that it never reaches a message or a ledger.
"""

from __future__ import annotations

import copy
import datetime
import pathlib
import sys

import pytest

COLLECTIONS = pathlib.Path(__file__).resolve().parents[5]
if str(COLLECTIONS) not in sys.path:
    sys.path.insert(0, str(COLLECTIONS))

from ansible.module_utils import basic  # noqa: E402
from ansible_collections.fracto.hosting.plugins.module_utils import lock  # noqa: E402
from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.x509.oid import NameOID  # noqa: E402

SECRET_MARK = "UNIT-SECRET"
ANA_HASH = ("$6$rounds=5000$fractounit$H9T9j4tBRkeh2kELRga9pOrkMrKVTh9zq6BQXN596vGdGYVpCGZB3iub1mTutvX7lCAycupaGJY4jh54"
            ".tTlA0")


def _name(cn):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def make_bundle(names, days_from=-1, days_to=365, ca=None):
    """A throwaway CA and a leaf for names: {"cert", "chain", "key", "ca"} (key carries SECRET_MARK)."""
    now = datetime.datetime.now(datetime.timezone.utc)
    if ca is None:
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_cert = (x509.CertificateBuilder().subject_name(_name("Unit test CA")).issuer_name(_name("Unit test CA"))
                   .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(days=1000)).not_valid_after(now + datetime.timedelta(days=1000))
                   .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                   .sign(ca_key, hashes.SHA256()))
        ca = (ca_key, ca_cert)
    ca_key, ca_cert = ca
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (x509.CertificateBuilder().subject_name(_name(names[0] if names else "no-san")).issuer_name(ca_cert.subject)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now + datetime.timedelta(days=days_from))
               .not_valid_after(now + datetime.timedelta(days=days_to)))
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode("ascii")
    return {
        "cert": cert.public_bytes(serialization.Encoding.PEM).decode("ascii"),
        "chain": ca_cert.public_bytes(serialization.Encoding.PEM).decode("ascii"),
        "key": "%s shop key\n%s" % (SECRET_MARK, key_pem),
        "ca": ca,
    }


@pytest.fixture(scope="session")
def bundle_factory():
    """make_bundle, for tests (they do not import conftest: two conftest modules may be loaded in one run)."""
    return make_bundle


@pytest.fixture(scope="session")
def shop_bundle():
    return make_bundle(["shop.cliente1.test"])


class OutsideTheLock(AssertionError):
    """A command or a write a module made while another run held the host lock."""


@pytest.fixture
def forbid(monkeypatch):
    """forbid(module, *names): calling any of those attributes of module fails the test (a write outside the lock)."""
    def forbid_(module, *names):
        for name in names:
            def refused(*_args, _name=name, **_kwargs):
                raise OutsideTheLock("%s outside the lock" % _name)
            monkeypatch.setattr(module, name, refused)
    return forbid_


@pytest.fixture
def held(monkeypatch):
    """Another run holds the host lock: entering it times out at once, and a command a module runs outside the lock
    fails the test. Returns the (module name, reseller) of every run that asked for the lock."""
    asked = []

    class Busy:
        """A lock another run holds: entering it times out at once."""

        def __init__(self, name, reseller=None, **_kw):
            self.name, self.reseller = name, reseller

        def __enter__(self):
            asked.append((self.name, self.reseller))
            raise lock.HostLockTimeout("another run holds the host lock /run/fracto/host.lock: web_sites (reseller other)")

        def __exit__(self, *exc_info):
            return False

    monkeypatch.setattr(lock, "host_lock", Busy)

    def no_command(self, *args, **kwargs):
        raise OutsideTheLock("run_command outside the lock: %r" % (args,))

    monkeypatch.setattr(basic.AnsibleModule, "run_command", no_command)
    return asked


INVENTORY = {
    "hosts": ["cloud01", "cloud02", "mail01", "legacy01"],
    "groups": {"all": ["cloud01", "cloud02", "mail01", "legacy01"], "fracto_web": ["cloud01", "cloud02"],
               "fracto_mail": ["mail01"], "fracto_legacy": ["legacy01"]},
}


def _state(bundle):
    return {
        "fracto_platform": {"domain": "fracto.test", "php_versions": ["8.2", "8.3"]},
        # The old platform's accounts (platform inventory): c1 is cliente1's, with its databases.
        "fracto_legacy_accounts": {"legacy01": {"c1": {"reseller": "demo", "client": "cliente1", "databases": ["cliente1_wp", "old_db"]},
                                                "cliente1": {"reseller": "demo", "client": "cliente1", "databases": ["cliente1_db"]}}},
        "fracto_ip_pool": {
            "198.51.100.10": {"reseller": "demo", "host": "cloud01"},
            "198.51.100.11": {"reseller": "demo", "host": "mail01"},
            "198.51.100.12": {"reseller": "demo", "host": "cloud02"},
            "198.51.100.20": {"reseller": "other", "host": "cloud01"},
            "198.51.100.30": {},
        },
        "fracto_reseller": {
            "name": "demo", "brand_domain": "dominioreseller.test", "contact_email": "ops@dominioreseller.test",
            "dedicated_ips": ["198.51.100.10", "198.51.100.11"],
            "backup": {"repository": "sftp:restic@backup01.fracto.test:/srv/restic/demo/{client}",
                       "password": "reseller-%s-1" % SECRET_MARK},
        },
        "fracto_packages": {
            "entry": {"autossl": False, "mail": True, "mail_branding": "generic", "backup": "none"},
            "business": {"autossl": True, "https_redirect": True, "mail": True, "mail_branding": "reseller",
                         "webmail": True, "backup": "reseller", "dedicated_ip": True},
            "gdpr": {"gdpr": True, "autossl": True, "https_redirect": True, "hsts": True, "mail": True,
                     "mail_branding": "client", "webmail": True, "backup": "client"},
        },
        "fracto_clients": {
            "cliente1": {
                "package": "gdpr", "web_host": "cloud01", "mail_host": "mail01",
                "domains": {"Cliente1.TEST.": {"aliases": ["www"], "subdomains": ["shop", "blog"], "php": "8.2"}},
                "certificates": [{"name": "shop-ov", "cert": bundle["cert"], "chain": bundle["chain"], "key": bundle["key"]}],
                "mailboxes": {
                    "Info@cliente1.test": {"password": "info-%s-2" % SECRET_MARK, "quota": "2G"},
                    # A whole SHA512-CRYPT hash (a hash carries no SECRET_MARK: its alphabet has no '-').
                    "ana@cliente1.test": {"password_hash": ANA_HASH},
                },
                "mail_aliases": {"sales@cliente1.test": ["info@cliente1.test", "ana@cliente1.test"]},
                "databases": {"cliente1_wp": {"password": "db-%s-3" % SECRET_MARK}},
                "backup": {"repository": "sftp:restic@backup.cliente1-offsite.test:/srv/restic",
                           "password": "backup-%s-4" % SECRET_MARK},
            },
            "cliente3": {
                "package": "entry", "overrides": {"webmail": True}, "web_host": "cloud02", "mail_host": "mail01",
                "domains": {"cliente3.test": {"aliases": ["www"]}},
                "mailboxes": {"contacto@cliente3.test": {"password": "contacto-%s-5" % SECRET_MARK, "quota": "250M"}},
            },
        },
        "fracto_clients__cliente2": {
            "cliente2": {
                "package": "business", "web_host": "cloud01", "mail_host": "mail01",
                "domains": {"cliente2.test": {"aliases": ["www"], "php": "8.3"}, "caffè.test": {"aliases": ["www"]}},
                "dedicated_ip": {"web": "198.51.100.10", "mail": "198.51.100.11"},
                "mailboxes": {"hola@cliente2.test": {"password": "hola-%s-6" % SECRET_MARK, "quota": "1G"}},
                "mail_aliases": {"info@xn--caff-8oa.test": ["hola@cliente2.test"]},
            },
        },
    }


@pytest.fixture
def state(shop_bundle):
    """A fresh, valid copy of the raw state variables (mutate it freely)."""
    return copy.deepcopy(_state(shop_bundle))


@pytest.fixture
def inventory():
    return copy.deepcopy(INVENTORY)
