# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Whole converges of the certificates of a host (module_utils/tls/run.py), with a fake CA and a fake precheck."""

from __future__ import annotations

import datetime
import json
import os

import pytest
from ansible_collections.fracto.hosting.plugins.module_utils.tls.acme_client import OrderError, RateLimited
from ansible_collections.fracto.hosting.plugins.module_utils.tls.params import ParameterError
from ansible_collections.fracto.hosting.plugins.module_utils.tls.run import CertificateRun
from ansible_collections.fracto.hosting.plugins.module_utils.tls.times import now_utc
from ansible_collections.fracto.hosting.tests.unit.plugins.module_utils.tls_fakes import (
    NAMES,
    NOW,
    SECRET_MARK,
    FakeCA,
    FakePrecheck,
    acme,
    custom,
    installed,
    params,
    run,
    snapshot,
)


# -- rate limits and failed orders ---------------------------------------------------------------------
def test_rate_limit_is_recorded_and_honoured(tmp_path):
    ca = FakeCA()
    ca.fail[frozenset(["cliente2.test"])] = RateLimited(1800, "order: HTTP 429 from the CA (too many)")
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
    ca.fail[frozenset(["cliente2.test"])] = RateLimited(1800, "order: HTTP 429 from the CA")
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
    runner = CertificateRun(params(tmp_path, [acme("cliente1.test", NAMES)]), now=lambda: ticks.pop(0) if len(ticks) > 1 else ticks[0],
                            precheck=FakePrecheck(), acme=ca)
    assert runner.run()["present"] == ["cliente1.test"]
    # A notBefore a little ahead of the host's clock (skew) still counts as valid.
    ca = FakeCA(start=NOW + datetime.timedelta(minutes=2))
    assert run(tmp_path / "skew", [acme("cliente1.test", NAMES)], ca=ca)["present"] == ["cliente1.test"]


def test_one_failed_order_does_not_stop_the_others(tmp_path):
    ca = FakeCA()
    ca.fail[frozenset(["cliente2.test"])] = OrderError("validation failed: cliente2.test: connection refused")
    certs = [acme("cliente1.test", NAMES), acme("cliente2.test", ["cliente2.test"], client="cliente2")]
    runner = CertificateRun(params(tmp_path, certs), now=NOW, precheck=FakePrecheck(), acme=ca)
    result = runner.run()
    assert result["issued"] == ["cliente1.test"] and result["present"] == ["cliente1.test"]
    assert result["failed_orders"] == {"cliente2.test": "validation failed: cliente2.test: connection refused"}
    message = runner.failure_message(result)
    assert "cliente2.test: order failed: validation failed" in message and "cliente1.test" not in message


# -- custom bundles --------------------------------------------------------------------------------------
def test_custom_install_refuse_keeps_previous(tmp_path, bundle_factory):
    now = now_utc()
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
    runner = CertificateRun(params(tmp_path, [custom("cliente1-shop-ov", bad, ["shop.cliente1.test"])]), now=now,
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
    result = run(tmp_path, [custom("cliente1-shop-ov", bundle, ["shop.cliente1.test"])], now=now_utc())
    assert result["installed"] == ["cliente1-shop-ov"]
    assert any("cliente1-shop-ov expires in" in w for w in result["warnings"])


def test_acme_never_orders_names_of_a_custom_certificate(tmp_path, bundle_factory):
    bundle = bundle_factory(["shop.cliente1.test"])
    ca = FakeCA()
    result = run(tmp_path, [acme("cliente1.test", NAMES + ["shop.cliente1.test"]),
                            custom("cliente1-shop-ov", bundle, ["shop.cliente1.test"])], ca=ca, now=now_utc())
    assert ca.orders == [NAMES]
    assert result["skipped_names"] == {"shop.cliente1.test": "covered by the custom certificate cliente1-shop-ov"}


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
    now = now_utc()

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
    now = now_utc()
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
    with pytest.raises(ParameterError, match="acme_directory is required"):
        run(tmp_path, [acme("a.test", ["a.test"])], acme_directory=None)
    with pytest.raises(ParameterError, match="reseller"):
        run(tmp_path, [acme("a.test", ["a.test"])], reseller=None)
    with pytest.raises(ParameterError, match="given twice"):
        run(tmp_path, [acme("a.test", ["a.test"]), acme("a.test", ["b.test"])])
    with pytest.raises(ParameterError, match="not a safe file name"):
        run(tmp_path, [acme("../a", ["a.test"])])
    with pytest.raises(ParameterError, match="wildcards"):
        run(tmp_path, [acme("a.test", ["*.a.test"])])


def test_client_moved_updates_meta_only(tmp_path):
    ca = FakeCA()
    run(tmp_path, [acme("cliente1.test", NAMES)], ca=ca)
    ca.orders.clear()
    result = run(tmp_path, [acme("cliente1.test", NAMES, client="cliente2")], ca=ca)
    assert ca.orders == [] and result["changes"][0]["detail"] == ["client: cliente1 -> cliente2"]
    assert json.loads((tmp_path / "tls" / "cliente1.test" / "meta.json").read_text())["client"] == "cliente2"
