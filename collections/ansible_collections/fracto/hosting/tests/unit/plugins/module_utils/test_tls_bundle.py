# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one commercial-bundle checker (module_utils/tls/bundle.py), as the host runs it."""

from __future__ import annotations

import pytest
from ansible_collections.fracto.hosting.plugins.module_utils.state import certs
from ansible_collections.fracto.hosting.plugins.module_utils.tls.bundle import BundleError, check_bundle
from ansible_collections.fracto.hosting.plugins.module_utils.tls.times import now_utc
from ansible_collections.fracto.hosting.tests.unit.plugins.module_utils.tls_fakes import SECRET_MARK


# -- custom bundles --------------------------------------------------------------------------------------
def test_check_bundle_ok(bundle_factory):
    bundle = bundle_factory(["shop.cliente1.test"])
    facts = check_bundle(bundle["cert"], bundle["chain"], bundle["key"], ["shop.cliente1.test"], now_utc())
    assert facts["names"] == ["shop.cliente1.test"] and not facts["expiring"]
    assert facts["privkey"].startswith(b"-----BEGIN PRIVATE KEY-----") and SECRET_MARK.encode() not in facts["privkey"]
    assert facts["fullchain"].count(b"BEGIN CERTIFICATE") == 2


def test_check_bundle_wildcard_covers(bundle_factory):
    bundle = bundle_factory(["*.cliente1.test"])
    check_bundle(bundle["cert"], bundle["chain"], bundle["key"], ["shop.cliente1.test", "blog.cliente1.test"], now_utc())


@pytest.mark.parametrize("case, message", [
    ("key", "key does not match the certificate"),
    ("chain", "chain does not build"),
    ("names", "does not cover blog.cliente1.test"),
    ("expired", "certificate expired on"),
    ("future", "not valid before"),
    ("garbage-key", "key is not a PEM private key"),
    ("garbage-cert", "cert is not a PEM certificate"),
])
def test_check_bundle_refusals(bundle_factory, case, message):
    bundle = bundle_factory(["shop.cliente1.test"], days_from=-400 if case == "expired" else (5 if case == "future" else -1),
                            days_to=-1 if case == "expired" else 365)
    cert, chain, key, names = bundle["cert"], bundle["chain"], bundle["key"], ["shop.cliente1.test"]
    if case == "key":
        key = bundle_factory(["shop.cliente1.test"])["key"]
    elif case == "chain":
        chain = bundle_factory(["other.test"])["chain"]      # another CA
    elif case == "names":
        names = names + ["blog.cliente1.test"]
    elif case == "garbage-key":
        key = "%s not a key" % SECRET_MARK
    elif case == "garbage-cert":
        cert = "nothing"
    with pytest.raises(BundleError) as err:
        check_bundle(cert, chain, key, names, now_utc())
    assert message in str(err.value)
    assert SECRET_MARK not in str(err.value) and "PRIVATE KEY" not in str(err.value)


def test_check_bundle_warning_under_30_days(bundle_factory):
    bundle = bundle_factory(["shop.cliente1.test"], days_to=10)
    facts = check_bundle(bundle["cert"], bundle["chain"], bundle["key"], ["shop.cliente1.test"], now_utc())
    assert facts["expiring"] and facts["days_left"] in (9, 10)


# -- the same checker on the controller (state validation) ------------------------------------------------
def test_the_state_checks_bundles_with_the_same_checker(bundle_factory):
    assert certs.BundleError is BundleError
    bundle = bundle_factory(["shop.cliente1.test", "*.cliente1.test"])
    facts = certs.inspect_bundle(bundle["cert"], bundle["chain"], bundle["key"])
    host = check_bundle(bundle["cert"], bundle["chain"], bundle["key"], ["shop.cliente1.test"], now_utc())
    assert facts["names"] == host["names"] == ["shop.cliente1.test", "*.cliente1.test"]
    assert facts["fingerprint"] == host["fingerprint"] and facts["days_left"] == host["days_left"]
    assert facts["not_after"] == host["not_after"].isoformat() and facts["not_after"].endswith("+00:00")
    assert SECRET_MARK not in repr(facts) and "PRIVATE KEY" not in repr(facts)
    other = bundle_factory(["shop.cliente1.test"])
    with pytest.raises(BundleError, match="^key does not match the certificate$"):
        certs.inspect_bundle(bundle["cert"], bundle["chain"], other["key"])
    with pytest.raises(BundleError, match="^certificate has no DNS names in subjectAltName$"):
        no_san = bundle_factory([])
        certs.inspect_bundle(no_san["cert"], no_san["chain"], no_san["key"])
    with pytest.raises(BundleError, match="^cert is not a PEM certificate$"):
        certs.inspect_bundle(42, None, bundle["key"])     # any value of the state, not only text
