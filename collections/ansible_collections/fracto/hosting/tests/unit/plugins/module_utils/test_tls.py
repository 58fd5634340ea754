# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Certificates of a web host (module_utils/web/tls.py): decisions, custom bundles, store, runs with fakes.

No network: the ACME CA and the precheck are fakes; certificates are made with cryptography.
"""

from __future__ import annotations

import datetime
import json
import os
import shutil
import tempfile

import pytest
from ansible_collections.fracto.hosting.plugins.module_utils.web import tls
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

SECRET_MARK = "UNIT-SECRET"      # in every custom key of conftest's make_bundle
UTC = datetime.timezone.utc
NOW = datetime.datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


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
    runner = tls.CertificateRun(params(tmp_path, certificates, **extra), check_mode=check_mode, now=now,
                                precheck=precheck or FakePrecheck(), acme=ca or FakeCA())
    return runner.run()


def installed(tmp_path, cert_id, now=NOW):
    return tls.CertificateStore(str(tmp_path / "tls")).read(cert_id, now)


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
    found = tls.Installed("x")
    found.exists = True
    found.valid = valid
    found.problem = None if valid else "expired on ..."
    found.names = list(names)
    found.not_before, found.not_after = not_before, not_after
    found.meta = {"source": source}
    return found


# -- needs_order ---------------------------------------------------------------------------------------
NAMES = ["cliente1.test", "www.cliente1.test"]


def test_needs_order_new():
    assert tls.needs_order(NAMES, None, NOW, 0.3333)[0] == "new"
    missing = tls.Installed("cliente1.test")
    assert tls.needs_order(NAMES, missing, NOW, 0.3333) == ("new", ["no certificate yet"])


def test_needs_order_invalid_installed_is_new():
    expired = fake_installed(NAMES, NOW - datetime.timedelta(days=91), NOW - datetime.timedelta(days=1), valid=False)
    reason, detail = tls.needs_order(NAMES, expired, NOW, 0.3333)
    assert reason == "new" and "expired" in detail[0]


def test_needs_order_names_changed():
    found = fake_installed(NAMES, NOW - datetime.timedelta(days=1), NOW + datetime.timedelta(days=89))
    reason, detail = tls.needs_order(NAMES[:1] + ["blog.cliente1.test"], found, NOW, 0.3333)
    assert reason == "names"
    assert detail == ["+ blog.cliente1.test", "- www.cliente1.test"]


def test_needs_order_renewal_by_fraction():
    # 90 days of lifetime, 29 left: under a third.
    found = fake_installed(NAMES, NOW - datetime.timedelta(days=61), NOW + datetime.timedelta(days=29))
    reason, detail = tls.needs_order(NAMES, found, NOW, 0.3333)
    assert reason == "renew" and "29d left of 90d" in detail[0]
    # 31 days left: not yet.
    found = fake_installed(NAMES, NOW - datetime.timedelta(days=59), NOW + datetime.timedelta(days=31))
    assert tls.needs_order(NAMES, found, NOW, 0.3333) is None
    # renew_fraction 1.0: always due.
    assert tls.needs_order(NAMES, found, NOW, 1.0)[0] == "renew"


def test_needs_order_valid_same_names_is_none():
    found = fake_installed(list(reversed(NAMES)), NOW - datetime.timedelta(days=1), NOW + datetime.timedelta(days=89))
    assert tls.needs_order(NAMES, found, NOW, 0.3333) is None


def test_needs_order_custom_installed_under_acme_id():
    found = fake_installed(NAMES, NOW - datetime.timedelta(days=1), NOW + datetime.timedelta(days=89), source="custom")
    assert tls.needs_order(NAMES, found, NOW, 0.3333)[0] == "names"


# -- plan_order: coverage ------------------------------------------------------------------------------
WANTED = ["cliente1.test", "www.cliente1.test", "blog.cliente1.test"]
FAIL_BLOG = {"blog.cliente1.test": "DNS: does not resolve"}


def test_plan_order_new_leaves_failing_names_out():
    assert tls.plan_order(WANTED, FAIL_BLOG, None, "new") == (WANTED[:2], [], [])


def test_plan_order_nothing_passes():
    assert tls.plan_order(WANTED, dict.fromkeys(WANTED, "x"), None, "new") == (None, [], [])


def test_plan_order_coverage_reduced_keeps_the_valid_certificate():
    # The valid certificate covers blog, which now fails; www2 is new: ordering would drop blog.
    found = fake_installed(WANTED, NOW - datetime.timedelta(days=1), NOW + datetime.timedelta(days=89))
    names, lost, waiting = tls.plan_order(WANTED + ["www2.cliente1.test"], FAIL_BLOG, found, "names")
    assert names is None and lost == ["blog.cliente1.test"] and waiting == ["www2.cliente1.test"]


def test_plan_order_coverage_reduced_when_renewal_due_issues_the_reduced_set():
    found = fake_installed(WANTED, NOW - datetime.timedelta(days=80), NOW + datetime.timedelta(days=10))
    names, lost, waiting = tls.plan_order(WANTED, FAIL_BLOG, found, "renew")
    assert names == WANTED[:2] and lost == ["blog.cliente1.test"] and waiting == []


def test_plan_order_same_set_as_installed_is_not_ordered_again():
    # New name fails the precheck: what would be ordered is what is installed.
    found = fake_installed(WANTED[:2], NOW - datetime.timedelta(days=1), NOW + datetime.timedelta(days=89))
    assert tls.plan_order(WANTED, FAIL_BLOG, found, "names") == (None, [], [])


def test_plan_order_removed_name_is_not_coverage_reduced():
    found = fake_installed(WANTED, NOW - datetime.timedelta(days=1), NOW + datetime.timedelta(days=89))
    assert tls.plan_order(WANTED[:2], {}, found, "names") == (WANTED[:2], [], [])


# -- Retry-After ----------------------------------------------------------------------------------------
def test_parse_retry_after_seconds_and_dates():
    assert tls.parse_retry_after("120", NOW) == 120
    assert tls.parse_retry_after(" 0 ", NOW) == 0
    assert tls.parse_retry_after("Sun, 29 Nov 2026 13:00:00 GMT", NOW) == 3600
    assert tls.parse_retry_after("Sun, 29 Nov 2026 11:00:00 GMT", NOW) == 0      # in the past
    assert tls.parse_retry_after(None, NOW) == tls.DEFAULT_RETRY_AFTER
    assert tls.parse_retry_after("soon", NOW) == tls.DEFAULT_RETRY_AFTER
    assert tls.parse_retry_after("-5", NOW, default=7) == 7


def test_retry_wait():
    assert tls.retry_wait({}, NOW) == 0
    assert tls.retry_wait({"retry_after": "2026-11-29T12:10:00+00:00"}, NOW) == 600
    assert tls.retry_wait({"retry_after": "2026-11-29T11:00:00+00:00"}, NOW) == 0
    assert tls.retry_wait({"retry_after": "garbage"}, NOW) == 0


def test_rate_limit_is_recorded_and_honoured(tmp_path):
    ca = FakeCA()
    ca.fail[frozenset(["cliente2.test"])] = tls.RateLimited(1800, "order: HTTP 429 from the CA (too many)")
    certs = [acme("cliente1.test", NAMES), acme("cliente2.test", ["cliente2.test"], client="cliente2")]
    result = run(tmp_path, certs, ca=ca)
    # The other certificate is still issued; no failure.
    assert result["issued"] == ["cliente1.test"]
    assert result["rate_limited"] == {"cliente2.test": "retry after 1800 s"}
    assert result["failed_orders"] == {}
    meta = json.loads((tmp_path / "tls" / "cliente2.test" / "meta.json").read_text())
    assert meta["retry_after"] == "2026-11-29T12:30:00+00:00"
    assert "cliente2.test" not in result["present"]
    # A rerun before that time does not ask the CA again.
    ca.orders.clear()
    again = run(tmp_path, certs, ca=ca, now=NOW + datetime.timedelta(minutes=10))
    assert ca.orders == []
    assert again["rate_limited"] == {"cliente2.test": "retry after 1200 s"}
    assert again["changed"] is False
    # After it, the order goes out (and succeeds); the marker is gone.
    del ca.fail[frozenset(["cliente2.test"])]
    later = run(tmp_path, certs, ca=ca, now=NOW + datetime.timedelta(minutes=31))
    assert ca.orders == [["cliente2.test"]] and later["issued"] == ["cliente2.test"]
    assert "retry_after" not in json.loads((tmp_path / "tls" / "cliente2.test" / "meta.json").read_text())


def test_retry_after_of_another_directory_is_ignored(tmp_path):
    ca = FakeCA()
    ca.fail[frozenset(["cliente2.test"])] = tls.RateLimited(1800, "order: HTTP 429 from the CA")
    certs = [acme("cliente2.test", ["cliente2.test"], client="cliente2")]
    run(tmp_path, certs, ca=ca, acme_directory="https://staging.invalid/dir")
    assert json.loads((tmp_path / "tls" / "cliente2.test" / "meta.json").read_text())["retry_directory"] == "https://staging.invalid/dir"
    del ca.fail[frozenset(["cliente2.test"])]
    assert run(tmp_path, certs, ca=ca, acme_directory="https://staging.invalid/dir")["rate_limited"] == {"cliente2.test": "retry after 1800 s"}
    assert run(tmp_path, certs, ca=ca, acme_directory="https://production.invalid/dir")["issued"] == ["cliente2.test"]


def test_presence_is_judged_when_the_orders_are_done(tmp_path):
    # A CA that does not backdate (Pebble): notBefore is the time of issue, after the start of the run.
    ticks = [NOW, NOW + datetime.timedelta(minutes=10)]     # the start, then every later reading
    ca = FakeCA(start=NOW + datetime.timedelta(minutes=8))
    runner = tls.CertificateRun(params(tmp_path, [acme("cliente1.test", NAMES)]), now=lambda: ticks.pop(0) if len(ticks) > 1 else ticks[0],
                                precheck=FakePrecheck(), acme=ca)
    assert runner.run()["present"] == ["cliente1.test"]
    # A notBefore a little ahead of the host's clock (skew) still counts as valid.
    ca = FakeCA(start=NOW + datetime.timedelta(minutes=2))
    assert run(tmp_path / "skew", [acme("cliente1.test", NAMES)], ca=ca)["present"] == ["cliente1.test"]


def test_one_failed_order_does_not_stop_the_others(tmp_path):
    ca = FakeCA()
    ca.fail[frozenset(["cliente2.test"])] = tls.OrderError("validation failed: cliente2.test: connection refused")
    certs = [acme("cliente1.test", NAMES), acme("cliente2.test", ["cliente2.test"], client="cliente2")]
    runner = tls.CertificateRun(params(tmp_path, certs), now=NOW, precheck=FakePrecheck(), acme=ca)
    result = runner.run()
    assert result["issued"] == ["cliente1.test"] and result["present"] == ["cliente1.test"]
    assert result["failed_orders"] == {"cliente2.test": "validation failed: cliente2.test: connection refused"}
    message = runner.failure_message(result)
    assert "cliente2.test: order failed: validation failed" in message and "cliente1.test" not in message


# -- custom bundles --------------------------------------------------------------------------------------
def test_check_bundle_ok(bundle_factory):
    bundle = bundle_factory(["shop.cliente1.test"])
    facts = tls.check_bundle(bundle["cert"], bundle["chain"], bundle["key"], ["shop.cliente1.test"], tls.now_utc())
    assert facts["names"] == ["shop.cliente1.test"] and not facts["expiring"]
    assert facts["privkey"].startswith(b"-----BEGIN PRIVATE KEY-----") and SECRET_MARK.encode() not in facts["privkey"]
    assert facts["fullchain"].count(b"BEGIN CERTIFICATE") == 2


def test_check_bundle_wildcard_covers(bundle_factory):
    bundle = bundle_factory(["*.cliente1.test"])
    tls.check_bundle(bundle["cert"], bundle["chain"], bundle["key"], ["shop.cliente1.test", "blog.cliente1.test"], tls.now_utc())


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
    with pytest.raises(tls.BundleError) as err:
        tls.check_bundle(cert, chain, key, names, tls.now_utc())
    assert message in str(err.value)
    assert SECRET_MARK not in str(err.value) and "PRIVATE KEY" not in str(err.value)


def test_check_bundle_warning_under_30_days(bundle_factory):
    bundle = bundle_factory(["shop.cliente1.test"], days_to=10)
    facts = tls.check_bundle(bundle["cert"], bundle["chain"], bundle["key"], ["shop.cliente1.test"], tls.now_utc())
    assert facts["expiring"] and facts["days_left"] in (9, 10)


def test_custom_install_refuse_keeps_previous(tmp_path, bundle_factory):
    now = tls.now_utc()
    good = bundle_factory(["shop.cliente1.test"])
    result = run(tmp_path, [custom("cliente1-shop-ov", good, ["shop.cliente1.test"])], now=now)
    assert result["installed"] == ["cliente1-shop-ov"] and result["present"] == ["cliente1-shop-ov"]
    assert result["changes"][0]["action"] == "create"
    store = tmp_path / "tls" / "cliente1-shop-ov"
    assert oct((store / "privkey.pem").stat().st_mode & 0o777) == "0o600"
    before = snapshot(str(store))
    # Same bundle: nothing to do.
    again = run(tmp_path, [custom("cliente1-shop-ov", good, ["shop.cliente1.test"])], now=now)
    assert again["changed"] is False and again["changes"] == [] and snapshot(str(store)) == before
    # A mismatched key is refused: the installed files stay, the certificate stays present.
    bad = dict(good, key=bundle_factory(["shop.cliente1.test"])["key"])
    runner = tls.CertificateRun(params(tmp_path, [custom("cliente1-shop-ov", bad, ["shop.cliente1.test"])]), now=now,
                                precheck=FakePrecheck(), acme=FakeCA())
    refused = runner.run()
    assert refused["refused"] == {"cliente1-shop-ov": "key does not match the certificate"}
    assert refused["present"] == ["cliente1-shop-ov"] and refused["changed"] is False
    assert refused["changes"][0]["action"] == "keep"
    assert snapshot(str(store)) == before
    assert "cliente1-shop-ov: refused: key does not match" in runner.failure_message(refused)
    assert SECRET_MARK not in json.dumps(refused) and "PRIVATE KEY" not in json.dumps(refused)


def test_custom_expiring_warns(tmp_path, bundle_factory):
    bundle = bundle_factory(["shop.cliente1.test"], days_to=10)
    result = run(tmp_path, [custom("cliente1-shop-ov", bundle, ["shop.cliente1.test"])], now=tls.now_utc())
    assert result["installed"] == ["cliente1-shop-ov"]
    assert any("cliente1-shop-ov expires in" in w for w in result["warnings"])


def test_acme_never_orders_names_of_a_custom_certificate(tmp_path, bundle_factory):
    bundle = bundle_factory(["shop.cliente1.test"])
    ca = FakeCA()
    result = run(tmp_path, [acme("cliente1.test", NAMES + ["shop.cliente1.test"]),
                            custom("cliente1-shop-ov", bundle, ["shop.cliente1.test"])], ca=ca, now=tls.now_utc())
    assert ca.orders == [NAMES]
    assert result["skipped_names"] == {"shop.cliente1.test": "covered by the custom certificate cliente1-shop-ov"}


# -- the store -------------------------------------------------------------------------------------------
def test_store_install_switches_whole_versions_and_rolls_back(tmp_path):
    store = tls.CertificateStore(str(tmp_path / "tls"))
    store.install("a.test", b"chain-1", b"key-1", {"n": 1})
    d = tmp_path / "tls" / "a.test"
    assert d.is_symlink() and store.rollback("a.test") == []
    first = os.readlink(d)
    store.install("a.test", b"chain-2", b"key-2", {"n": 2})
    assert os.readlink(d) != first and not os.path.isabs(os.readlink(d))
    assert (d / "fullchain.pem").read_bytes() == b"chain-2" and (d / "privkey.pem").read_bytes() == b"key-2"
    assert oct((d / "privkey.pem").stat().st_mode & 0o777) == "0o600"
    assert oct((tmp_path / "tls" / ".versions").stat().st_mode & 0o777) == "0o755"
    versions = tmp_path / "tls" / ".versions" / "a.test"
    assert sorted(os.listdir(versions)) == sorted([os.path.basename(first), os.path.basename(os.readlink(d)), "previous"])
    assert store.ids() == ["a.test"]
    store.install("a.test", b"chain-3", b"key-3", {"n": 3})
    assert len(os.listdir(versions)) == 3  # the current, the one it replaced, the pointer: version 1 is gone
    assert store.rollback("a.test") == ["fullchain.pem", "privkey.pem", "meta.json"]
    assert (d / "fullchain.pem").read_bytes() == b"chain-2" and (d / "privkey.pem").read_bytes() == b"key-2"
    assert json.loads((d / "meta.json").read_text()) == {"n": 2}
    assert store.rollback("a.test") == []
    assert not [f for f in os.listdir(tmp_path / "tls") if ".link-" in f]


def test_store_takes_over_a_directory_written_before_versions(tmp_path):
    old = tmp_path / "tls" / "a.test"
    old.mkdir(parents=True)
    (old / "fullchain.pem").write_bytes(b"chain-0")
    (old / "privkey.pem").write_bytes(b"key-0")
    store = tls.CertificateStore(str(tmp_path / "tls"))
    store.write_meta("a.test", {"n": 0})  # writes into the directory as it is
    store.install("a.test", b"chain-1", b"key-1", {"n": 1})
    assert old.is_symlink() and (old / "fullchain.pem").read_bytes() == b"chain-1"
    assert store.rollback("a.test") == ["fullchain.pem", "privkey.pem", "meta.json"]
    assert (old / "privkey.pem").read_bytes() == b"key-0"


def test_store_archive_moves_the_current_version_and_drops_the_others(tmp_path):
    store = tls.CertificateStore(str(tmp_path / "tls"))
    store.install("a.test", b"chain-1", b"key-1", {"n": 1})
    store.install("a.test", b"chain-2", b"key-2", {"n": 2})
    target = store.archive("a.test", NOW)
    assert open(os.path.join(target, "fullchain.pem"), "rb").read() == b"chain-2"
    assert not os.path.lexists(tmp_path / "tls" / "a.test")
    assert not (tmp_path / "tls" / ".versions" / "a.test").exists() and store.ids() == []


def test_store_rejects_unsafe_ids(tmp_path):
    store = tls.CertificateStore(str(tmp_path))
    for bad in ("../etc", ".archive", "a/b", "", None):
        with pytest.raises(tls.ParameterError):
            store.path(bad)


def test_store_read_detects_problems(tmp_path):
    ca = FakeCA()
    key = tls.make_key()
    store = tls.CertificateStore(str(tmp_path / "tls"))
    store.install("a.test", ca.issue(["a.test"], key.public_key()).encode(), tls.key_pem(key), {"source": "acme"})
    assert store.read("a.test", NOW).valid
    assert store.read("a.test", NOW + datetime.timedelta(days=100)).problem.startswith("expired on")
    store.install("a.test", ca.issue(["a.test"], tls.make_key().public_key()).encode(), tls.key_pem(key), {"source": "acme"})
    assert store.read("a.test", NOW).problem == "privkey.pem does not match fullchain.pem"


# -- whole runs ------------------------------------------------------------------------------------------
def test_issue_then_idempotent_rerun(tmp_path):
    ca = FakeCA()
    certs = [acme("cliente1.test", NAMES), acme("cliente2.test", ["cliente2.test", "www.cliente2.test"], client="cliente2")]
    first = run(tmp_path, certs, ca=ca)
    assert first["changed"] is True and first["issued"] == ["cliente1.test", "cliente2.test"]
    assert [c["action"] for c in first["changes"]] == ["create", "create"]
    assert first["present"] == ["cliente1.test", "cliente2.test"]
    assert first["covered"]["cliente1.test"] == NAMES
    meta = json.loads((tmp_path / "tls" / "cliente1.test" / "meta.json").read_text())
    assert set(meta) == {"source", "names", "not_before", "not_after", "fingerprint", "issuer", "client", "reseller"}
    assert meta["client"] == "cliente1" and meta["source"] == "acme" and meta["issuer"] == "CN=Fake ACME CA"
    before = snapshot(str(tmp_path))
    ca.orders.clear()
    second = run(tmp_path, certs, ca=ca, precheck=FakePrecheck())
    assert second["changed"] is False and second["changes"] == [] and ca.orders == []
    assert snapshot(str(tmp_path)) == before


def test_precheck_only_for_certificates_that_need_an_order(tmp_path):
    ca = FakeCA()
    run(tmp_path, [acme("cliente1.test", NAMES)], ca=ca)
    precheck = FakePrecheck()
    run(tmp_path, [acme("cliente1.test", NAMES), acme("cliente2.test", ["cliente2.test"], client="cliente2")],
        ca=ca, precheck=precheck)
    assert precheck.asked == [["cliente2.test"]]


def test_failing_name_left_out_then_coverage_reduced(tmp_path):
    ca = FakeCA()
    names = NAMES + ["nothere.cliente1.test"]
    first = run(tmp_path, [acme("cliente1.test", names)], ca=ca,
                precheck=FakePrecheck({"nothere.cliente1.test": "DNS: nothere.cliente1.test does not resolve"}))
    assert ca.orders == [NAMES] and first["issued"] == ["cliente1.test"]
    assert first["skipped_names"] == {"nothere.cliente1.test": "DNS: nothere.cliente1.test does not resolve"}
    assert first["covered"]["cliente1.test"] == NAMES
    # www stops passing, blog is added: the valid certificate is kept (it still covers www).
    ca.orders.clear()
    second = run(tmp_path, [acme("cliente1.test", NAMES + ["blog.cliente1.test"])], ca=ca,
                 precheck=FakePrecheck({"www.cliente1.test": "HTTP 404"}))
    assert ca.orders == []
    assert second["coverage_reduced"] == {"cliente1.test": ["www.cliente1.test"]}
    assert second["skipped_names"]["www.cliente1.test"] == "HTTP 404"
    assert second["skipped_names"]["blog.cliente1.test"].startswith("not ordered: the new certificate would drop www.cliente1.test")
    assert second["changed"] is False and second["changes"][0]["action"] == "keep"
    assert second["present"] == ["cliente1.test"]
    # When the renewal is due, the reduced set is issued and the loss still reported.
    third = run(tmp_path, [acme("cliente1.test", NAMES + ["blog.cliente1.test"])], ca=ca,
                precheck=FakePrecheck({"www.cliente1.test": "HTTP 404"}), now=NOW + datetime.timedelta(days=70))
    assert ca.orders == [["cliente1.test", "blog.cliente1.test"]]
    assert third["renewed"] == ["cliente1.test"]
    assert third["coverage_reduced"] == {"cliente1.test": ["www.cliente1.test"]}
    assert third["changes"][0]["detail"][1:] == ["+ blog.cliente1.test", "- www.cliente1.test",
                                                 "coverage reduced: www.cliente1.test failed the precheck"]


def test_renewal_forced_by_fraction(tmp_path):
    ca = FakeCA()
    certs = [acme("cliente1.test", NAMES), acme("cliente2.test", ["cliente2.test"], client="cliente2")]
    run(tmp_path, certs, ca=ca)
    old = installed(tmp_path, "cliente1.test").fingerprint
    ca.orders.clear()
    result = run(tmp_path, certs, ca=ca, renew_fraction=1.0)
    assert result["renewed"] == ["cliente1.test", "cliente2.test"] and result["issued"] == []
    assert [c["action"] for c in result["changes"]] == ["change", "change"]
    assert installed(tmp_path, "cliente1.test").fingerprint != old
    assert len(os.listdir(tmp_path / "tls" / ".versions" / "cliente1.test")) == 3  # new, replaced, pointer


def test_only_expiring_certificates_are_renewed(tmp_path):
    ca = FakeCA()
    run(tmp_path, [acme("cliente1.test", NAMES)], ca=ca)                        # issued an hour ago, 90 days
    ca.start = NOW + datetime.timedelta(days=40)
    both = [acme("cliente1.test", NAMES), acme("cliente2.test", ["cliente2.test"], client="cliente2")]
    forty = run(tmp_path, both, ca=ca, now=NOW + datetime.timedelta(days=40))
    assert forty["issued"] == ["cliente2.test"] and forty["renewed"] == []
    ca.orders.clear()
    result = run(tmp_path, both, ca=ca, now=NOW + datetime.timedelta(days=65))
    assert result["renewed"] == ["cliente1.test"] and ca.orders == [NAMES]


def test_check_mode_writes_nothing_and_contacts_no_ca(tmp_path, bundle_factory):
    bundle = bundle_factory(["shop.cliente1.test"])
    now = tls.now_utc()

    class NoCA:
        def order(self, names, key):
            raise AssertionError("check mode contacted the CA")

    certs = [acme("cliente1.test", NAMES), custom("cliente1-shop-ov", bundle, ["shop.cliente1.test"])]
    result = run(tmp_path, certs, ca=NoCA(), check_mode=True, now=now)
    assert not (tmp_path / "tls").exists() and not (tmp_path / "accounts").exists()
    assert result["changed"] is True
    assert result["issued"] == ["cliente1.test"] and result["installed"] == ["cliente1-shop-ov"]
    assert result["present"] == ["cliente1-shop-ov", "cliente1.test"]
    assert "certificate cliente1.test\n  source: acme\n  names: cliente1.test, www.cliente1.test\n  not_after: (set when issued)" \
        in result["diff"]["after"]
    assert result["diff"]["before"] == ""


def test_diff_has_no_key_material(tmp_path, bundle_factory):
    now = tls.now_utc()
    first = bundle_factory(["shop.cliente1.test"])
    run(tmp_path, [custom("cliente1-shop-ov", first, ["shop.cliente1.test"])], now=now)
    second = bundle_factory(["shop.cliente1.test"])
    for check_mode in (True, False):
        result = run(tmp_path, [custom("cliente1-shop-ov", second, ["shop.cliente1.test"])], now=now, check_mode=check_mode)
        assert result["changes"][0]["action"] == "change"
        text = json.dumps(result)
        assert SECRET_MARK not in text and "PRIVATE KEY" not in text and "BEGIN CERTIFICATE" not in text
        assert "names: shop.cliente1.test" in result["diff"]["before"] and "names: shop.cliente1.test" in result["diff"]["after"]
        assert result["diff"]["before"] != result["diff"]["after"]


def test_removal_archives_for_present_clients_and_keeps_the_others(tmp_path):
    ca = FakeCA()
    certs = [acme("cliente1.test", NAMES), acme("cliente2.test", ["cliente2.test"], client="cliente2"),
             acme("cliente9.test", ["cliente9.test"], client="cliente9")]
    run(tmp_path, certs, ca=ca, clients=["cliente1", "cliente2", "cliente9"])
    # cliente1 drops its domain; cliente9 leaves the state.
    result = run(tmp_path, certs[1:2], ca=ca, clients=["cliente1", "cliente2"])
    assert result["removed"] == ["cliente1.test"]
    actions = {c["id"]: c["action"] for c in result["changes"]}
    assert actions == {"cliente1.test": "remove", "cliente9.test": "keep"}
    assert not (tmp_path / "tls" / "cliente1.test").exists()
    archived = os.listdir(tmp_path / "tls" / ".archive")
    assert archived == ["cliente1.test-20261129T120000Z"]
    assert (tmp_path / "tls" / "cliente9.test" / "fullchain.pem").exists()
    assert "cliente9.test" in result["present"]
    # Another reseller's certificate in the same store is never touched, even with prune.
    run(tmp_path, [acme("other.test", ["other.test"], client="x")], ca=ca, reseller="other", clients=["x"])
    pruned = run(tmp_path, certs[1:2], ca=ca, clients=["cliente2"], prune=True)
    assert pruned["removed"] == ["cliente9.test"]
    assert (tmp_path / "tls" / "other.test" / "fullchain.pem").exists()


def test_check_mode_removal_reports_and_keeps_files(tmp_path):
    ca = FakeCA()
    run(tmp_path, [acme("cliente1.test", NAMES)], ca=ca)
    before = snapshot(str(tmp_path))
    result = run(tmp_path, [], ca=ca, check_mode=True)
    assert result["removed"] == ["cliente1.test"] and result["changed"] is True
    assert "certificate cliente1.test" in result["diff"]["before"] and result["diff"]["after"] == ""
    assert snapshot(str(tmp_path)) == before


def test_parameters_are_checked(tmp_path):
    with pytest.raises(tls.ParameterError, match="acme_directory is required"):
        run(tmp_path, [acme("a.test", ["a.test"])], acme_directory=None)
    with pytest.raises(tls.ParameterError, match="reseller"):
        run(tmp_path, [acme("a.test", ["a.test"])], reseller=None)
    with pytest.raises(tls.ParameterError, match="given twice"):
        run(tmp_path, [acme("a.test", ["a.test"]), acme("a.test", ["b.test"])])
    with pytest.raises(tls.ParameterError, match="not a safe file name"):
        run(tmp_path, [acme("../a", ["a.test"])])
    with pytest.raises(tls.ParameterError, match="wildcards"):
        run(tmp_path, [acme("a.test", ["*.a.test"])])


def test_client_moved_updates_meta_only(tmp_path):
    ca = FakeCA()
    run(tmp_path, [acme("cliente1.test", NAMES)], ca=ca)
    ca.orders.clear()
    result = run(tmp_path, [acme("cliente1.test", NAMES, client="cliente2")], ca=ca)
    assert ca.orders == [] and result["changes"][0]["detail"] == ["client: cliente1 -> cliente2"]
    assert json.loads((tmp_path / "tls" / "cliente1.test" / "meta.json").read_text())["client"] == "cliente2"


def test_unreadable_ancestor():
    base = tempfile.mkdtemp(dir="/tmp")          # /tmp is 1777; pytest's own tmp_path sits under a 0700 directory
    try:
        os.chmod(base, 0o755)
        locked = os.path.join(base, "locked")
        os.makedirs(os.path.join(locked, "acme"))
        os.chmod(locked, 0o700)
        assert tls.unreadable_ancestor(os.path.join(locked, "acme")) == (locked, 0o700)
        os.chmod(locked, 0o711)
        assert tls.unreadable_ancestor(os.path.join(locked, "acme")) is None
        assert tls.unreadable_ancestor(os.path.join(locked, "missing", "acme")) is None
    finally:
        shutil.rmtree(base)
