# -*- coding: utf-8 -*-
"""mail_server's DKIM keys, through the module on a fake host (test_mail_tenancy's FakeHost): made once and kept,
never in the result or a diff, planned but not made in check mode, shared-host safe, refused when hostile."""

from __future__ import annotations

import json

import pytest
from ansible_collections.fracto.hosting.plugins.module_utils.mail import dkim
from test_mail_tenancy import FakeHost, reseller_state


@pytest.fixture
def host(tmp_path, monkeypatch):
    return FakeHost(tmp_path, monkeypatch)


def keys_of(files):
    return {path: content for path, content in files.items() if path.startswith(dkim.KEY_DIR + "/")}


def test_a_key_is_made_per_domain_signs_and_is_never_made_again(host, capsys):
    first = host.run(capsys, "resa", **reseller_state("a", "ca"))
    keys = keys_of(host.files)
    assert list(keys) == ["/etc/fracto/dkim/keys/ca.test.fr%sa.key" % first["dkim"][0]["selector"][2:6]]
    assert next(iter(keys.values())).startswith(b"-----BEGIN PRIVATE KEY-----")
    assert [(k["domain"], k["state"], k["value"][:18]) for k in first["dkim"]] == [("ca.test", "active", "v=DKIM1; k=rsa; p=")]
    assert '"ca.test" {' in host.files[dkim.RSPAMD_DKIM_CONF] and ("selector = \"%s\"" % first["dkim"][0]["selector"]) \
        in host.files[dkim.RSPAMD_DKIM_CONF]
    again = host.run(capsys, "resa", **reseller_state("a", "ca"))
    assert not again["changed"] and keys_of(host.files) == keys and again["dkim"] == first["dkim"]


def test_no_private_key_in_the_result_the_changes_or_the_diff(host, capsys):
    state = reseller_state("a", "ca")
    state["domains"][0]["dkim"] = ["rsa", "ed25519"]
    result = host.run(capsys, "resa", diff=True, **state)
    shown = json.dumps(result)
    private = [c.decode().strip() for c in keys_of(host.files).values()]
    assert len(private) == 2 and "PRIVATE KEY" not in shown and private[1][:40] not in shown
    assert not any(d["after_header"].startswith(dkim.DKIM_DIR) for d in result["diff"])
    assert [c["id"].split(".")[0] for c in result["changes"] if c["kind"] == "dkim_key"] == [
        k["selector"] for k in result["dkim"]]


def test_check_mode_plans_the_key_and_makes_nothing(host, capsys):
    result = host.run(capsys, "resa", check=True, **reseller_state("a", "ca"))
    assert result["changed"] and host.files == {} and [k["value"] for k in result["dkim"]] == [None]
    [line] = [c for c in result["changes"] if c["kind"] == "dkim_key"]
    assert line["action"] == "create" and line["client"] == "ca" and line["id"].endswith("._domainkey.ca.test")


def test_each_reseller_gets_its_own_keys_and_the_configuration_signs_both(host, capsys):
    a = host.run(capsys, "resa", **reseller_state("a", "ca"))
    b = host.run(capsys, "resb", **reseller_state("b", "cb"))
    assert [k["domain"] for k in a["dkim"]] == ["ca.test"] and [k["domain"] for k in b["dkim"]] == ["cb.test"]
    conf = host.files[dkim.RSPAMD_DKIM_CONF]
    assert '"ca.test" {' in conf and '"cb.test" {' in conf
    assert not host.run(capsys, "resa", **reseller_state("a", "ca"))["changed"]


def test_a_hostile_algorithm_is_refused_before_anything_is_written(host, capsys):
    state = reseller_state("a", "ca")
    state["domains"][0]["dkim"] = ["rsa", 'ed25519"; path = "/etc/shadow']
    result = host.run(capsys, "resa", **state)
    assert result["failed"] and result["field"] == "domains[ca.test].dkim" and host.files == {}
