# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The host ledger and the plan: create, change, remove, keep (module_utils/ledger.py)."""

from __future__ import annotations

import copy
import json

import pytest
from ansible_collections.fracto.hosting.plugins.module_utils.ledger import RESELLER, foreign_clashes, format_change, group_by_client, host_objects, plan
from ansible_collections.fracto.hosting.plugins.module_utils.state.model import validate_state
from ansible_collections.fracto.hosting.plugins.module_utils.state.resolve import resolve_state

SECRET_MARK = "UNIT-SECRET"      # in every secret of the conftest state


@pytest.fixture
def hosts(state, inventory):
    model, problems = validate_state(state, inventory)
    assert problems.errors == []
    return resolve_state(model)["hosts"]


def obj(kind, ident, client, **attrs):
    return {"%s %s" % (kind, ident): {"kind": kind, "id": ident, "client": client, "attrs": attrs}}


# -- host_objects --------------------------------------------------------------------------------
def test_host_objects_keys(hosts):
    web = host_objects(hosts["cloud01"])
    for key in ("system_user cliente1", "vhost cliente1.test", "vhost shop.cliente1.test", "certificate cliente1.test",
                "certificate cliente1-shop-ov", "php_pool cliente1-8.2", "database cliente1_wp",
                "ip_binding 198.51.100.10", "backup_job cliente1/web", "backup_job cliente2/web"):
        assert key in web, key
    mail = host_objects(hosts["mail01"])
    for key in ("mail_domain cliente1.test", "mailbox info@cliente1.test", "mail_alias sales@cliente1.test",
                "mail_name mail.cliente1.test", "webmail_name webmail.dominioreseller.test",
                "certificate mail.cliente1.test", "backup_job cliente1/mail", "ip_binding 198.51.100.11"):
        assert key in mail, key


def test_host_objects_content(hosts):
    web = host_objects(hosts["cloud01"])
    assert web["certificate cliente1.test"] == {
        "kind": "certificate", "id": "cliente1.test", "client": "cliente1",
        "attrs": {"source": "acme", "names": ["cliente1.test", "www.cliente1.test", "blog.cliente1.test"]}}
    assert web["ip_binding 198.51.100.10"]["client"] == "cliente2"
    assert set(web["vhost shop.cliente1.test"]["attrs"]) == {
        "aliases", "php", "https_redirect", "hsts", "tls", "certificate", "ipv4", "docroot"}
    mail = host_objects(hosts["mail01"])
    assert mail["mailbox info@cliente1.test"]["attrs"] == {"quota": 2 * 1024 ** 3}
    assert mail["backup_job cliente1/mail"]["attrs"]["what"] == ["mailboxes"]


def test_shared_objects_belong_to_the_reseller(state, inventory):
    state["fracto_clients"]["cliente5"] = {"package": "business", "web_host": "cloud02", "mail_host": "mail01",
                                           "domains": {"cliente5.test": {}}}
    model, _problems = validate_state(state, inventory)
    mail = host_objects(resolve_state(model)["hosts"]["mail01"])
    assert mail["mail_name mail.dominioreseller.test"]["client"] == RESELLER
    assert mail["certificate mail.dominioreseller.test"]["client"] == RESELLER
    assert mail["mail_name mail.cliente1.test"]["client"] == "cliente1"


def test_no_secret_in_host_objects(hosts, shop_bundle):
    """Passwords, hashes, keys and backup passwords stay out of the ledger (it is written to the host and diffed)."""
    assert SECRET_MARK in json.dumps(hosts)          # the desired state has them ...
    for host_state in hosts.values():
        text = json.dumps(host_objects(host_state))
        assert SECRET_MARK not in text               # ... the ledger has none
        assert "PRIVATE KEY" not in text and shop_bundle["cert"] not in text
        assert "password" not in text and '"key"' not in text


# -- plan ----------------------------------------------------------------------------------------
def test_plan_from_nothing_creates_everything(hosts):
    wanted = host_objects(hosts["cloud01"])
    changes, record = plan({}, wanted, ["cliente1", "cliente2"])
    assert {c["action"] for c in changes} == {"create"} and len(changes) == len(wanted)
    assert record == wanted


def test_plan_without_difference_is_empty(hosts):
    wanted = host_objects(hosts["cloud01"])
    changes, record = plan(copy.deepcopy(wanted), wanted, ["cliente1", "cliente2"])
    assert changes == [] and record == wanted


def test_plan_change_of_a_list_attribute():
    recorded = obj("certificate", "cliente1.test", "cliente1", source="acme", names=["cliente1.test", "www.cliente1.test"])
    wanted = obj("certificate", "cliente1.test", "cliente1", source="acme",
                 names=["cliente1.test", "www.cliente1.test", "blog.cliente1.test"])
    changes, record = plan(recorded, wanted, ["cliente1"])
    assert changes == [{"action": "change", "kind": "certificate", "id": "cliente1.test", "client": "cliente1",
                        "detail": ["+ blog.cliente1.test"]}]
    assert format_change(changes[0]) == "~ certificate cliente1.test: + blog.cliente1.test"
    assert record == wanted


def test_plan_change_details():
    recorded = obj("vhost", "shop.cliente1.test", "cliente1", tls="acme", hsts=False, ipv4=None, aliases=["old.cliente1.test"])
    wanted = obj("vhost", "shop.cliente1.test", "cliente1", tls="custom", hsts=True, ipv4="198.51.100.10", aliases=[])
    (change,), _record = plan(recorded, wanted, ["cliente1"])
    assert format_change(change) == ("~ vhost shop.cliente1.test: - old.cliente1.test, hsts: false -> true, "
                                     "ipv4: none -> 198.51.100.10, tls: acme -> custom")


def test_plan_change_of_owner():
    recorded = obj("mail_name", "mail.dominioreseller.test", "cliente2", branding="reseller", clients=["cliente2"])
    wanted = obj("mail_name", "mail.dominioreseller.test", RESELLER, branding="reseller", clients=["cliente2", "cliente5"])
    (change,), _record = plan(recorded, wanted, ["cliente2", "cliente5"])
    assert change["detail"] == ["client: cliente2 -> (reseller)", "+ cliente5"]


def test_plan_removes_objects_of_a_present_client():
    recorded = obj("mailbox", "old@cliente1.test", "cliente1", quota=None)
    changes, record = plan(recorded, {}, ["cliente1"])
    assert [format_change(c) for c in changes] == ["- mailbox old@cliente1.test"]
    assert record == {}


def test_plan_removes_reseller_objects():
    recorded = obj("mail_name", "mail.dominioreseller.test", RESELLER, branding="reseller", clients=["a", "b"])
    changes, record = plan(recorded, {}, [])
    assert [c["action"] for c in changes] == ["remove"] and record == {}


def test_plan_keeps_a_gone_client_without_prune():
    recorded = {}
    recorded.update(obj("vhost", "cliente9.test", "cliente9", tls="acme"))
    recorded.update(obj("mailbox", "info@cliente9.test", "cliente9", quota=None))
    recorded.update(obj("vhost", "cliente1.test", "cliente1", tls="acme"))
    wanted = obj("vhost", "cliente1.test", "cliente1", tls="acme")
    changes, record = plan(recorded, wanted, ["cliente1"])
    assert [(c["action"], c["id"]) for c in changes] == [("keep", "info@cliente9.test"), ("keep", "cliente9.test")]
    assert format_change(changes[0]) == (
        "! mailbox info@cliente9.test: client cliente9 is gone from the state; kept until a run with fracto_prune=true")
    assert set(record) == {"vhost cliente1.test", "vhost cliente9.test", "mailbox info@cliente9.test"}
    # The next run without prune says the same: nothing is forgotten.
    again, _record = plan(record, wanted, ["cliente1"])
    assert [c["action"] for c in again] == ["keep", "keep"]


def test_plan_removes_a_gone_client_with_prune():
    recorded = obj("vhost", "cliente9.test", "cliente9", tls="acme")
    recorded.update(obj("vhost", "cliente1.test", "cliente1", tls="acme"))
    wanted = obj("vhost", "cliente1.test", "cliente1", tls="acme")
    changes, record = plan(recorded, wanted, ["cliente1"], prune=True)
    assert [format_change(c) for c in changes] == ["- vhost cliente9.test"]
    assert record == wanted


def test_plan_after_a_state_change(state, inventory):
    before_model, _p = validate_state(state, inventory)
    before = host_objects(resolve_state(before_model)["hosts"]["cloud01"])
    state["fracto_clients"]["cliente1"]["domains"]["Cliente1.TEST."]["subdomains"].append("tienda")
    del state["fracto_clients__cliente2"]
    after_model, problems = validate_state(state, inventory)
    assert problems.errors == []
    after = host_objects(resolve_state(after_model)["hosts"]["cloud01"])
    changes, _record = plan(before, after, ["cliente1"])
    lines = [format_change(c) for c in changes]
    assert "~ certificate cliente1.test: + tienda.cliente1.test" in lines
    assert "+ vhost tienda.cliente1.test" in lines
    assert "! vhost cliente2.test: client cliente2 is gone from the state; kept until a run with fracto_prune=true" in lines
    assert not any(line.startswith("-") for line in lines)


def test_format_change_symbols():
    base = {"kind": "vhost", "id": "a.test", "client": "c", "detail": []}
    assert [format_change(dict(base, action=a)) for a in ("create", "change", "remove", "keep")] == [
        "+ vhost a.test", "~ vhost a.test", "- vhost a.test", "! vhost a.test"]


def test_group_by_client():
    changes = {
        "mail01": [{"action": "create", "kind": "mailbox", "id": "x@b.test", "client": "b", "detail": []}],
        "cloud01": [{"action": "create", "kind": "vhost", "id": "b.test", "client": "b", "detail": []},
                    {"action": "remove", "kind": "vhost", "id": "a.test", "client": "a", "detail": []}],
    }
    grouped = group_by_client(changes)
    assert list(grouped) == ["a", "b"]
    assert [(c["host"], c["id"]) for c in grouped["b"]] == [("cloud01", "b.test"), ("mail01", "x@b.test")]


@pytest.mark.parametrize("repository, recorded", [
    ("rest:https://restic:pw-%s@rest.backup.test:8000/cliente1/" % SECRET_MARK, "rest:https://restic:****@rest.backup.test:8000/cliente1/"),
    ("rest:http://rest.backup.test:8000/cliente1/", "rest:http://rest.backup.test:8000/cliente1/"),
    ("sftp:restic@backup.test:/srv/restic", "sftp:restic@backup.test:/srv/restic"),
    ("sftp://restic@backup.test:2222//srv/restic", "sftp://restic@backup.test:2222//srv/restic"),
])
def test_no_credentials_of_a_repository_url_in_host_objects(repository, recorded):
    job = {"client": "c", "side": "web", "what": ["files"], "repository": repository, "password": "x-%s" % SECRET_MARK,
           "keep": {"daily": 7}, "managed_by": "client"}
    objects = host_objects({"backup_jobs": [job]})
    assert objects["backup_job c/web"]["attrs"]["repository"] == recorded
    assert SECRET_MARK not in json.dumps(objects)


def _obj(kind, ident, client):
    return {"%s %s" % (kind, ident): {"kind": kind, "id": ident, "client": client, "attrs": {}}}


def test_another_resellers_client_id_is_a_clash():
    mine = dict(_obj("vhost", "a.test", "cliente1"))
    others = {"other": dict(_obj("vhost", "b.test", "cliente1")), "third": dict(_obj("vhost", "c.test", "cliente9"))}
    assert foreign_clashes(mine, others) == ["client id cliente1 is a client of reseller other here"]


def test_another_resellers_object_is_a_clash_whoever_the_client():
    mine = dict(_obj("mailbox", "info@shared.test", "cliente1"))
    assert foreign_clashes(mine, {"other": dict(_obj("mailbox", "info@shared.test", "zeta"))}) == [
        "mailbox info@shared.test is held by reseller other (client zeta)"]
    # a reseller-level name of one is still a clash with a client's name of the other
    assert foreign_clashes(dict(_obj("mail_name", "mail.x.test", RESELLER)),
                           {"other": dict(_obj("mail_name", "mail.x.test", "zeta"))})


def _vhost(name, client, aliases=()):
    return {"vhost %s" % name: {"kind": "vhost", "id": name, "client": client, "attrs": {"aliases": list(aliases)}}}


def test_a_host_name_another_reseller_serves_is_a_clash_whatever_the_object():
    theirs = {"other": {**_vhost("shop.a.test", "zeta", aliases=["www.shop.a.test"]), **_obj("mail_domain", "a.test", "zeta")}}
    # an alias of mine is their site's alias; my site is named after their mail domain's MTA-STS policy
    assert foreign_clashes(_vhost("b.test", "cliente1", aliases=["www.shop.a.test"]), theirs) == [
        "host name www.shop.a.test is served by reseller other here (client zeta)"]
    assert foreign_clashes(_vhost("mta-sts.a.test", "cliente1"), theirs) == [
        "host name mta-sts.a.test is served by reseller other here (client zeta)"]
    assert foreign_clashes(_vhost("WWW.shop.a.test", "cliente1"), theirs) == [
        "host name www.shop.a.test is served by reseller other here (client zeta)"]
    # a domain whose mail is theirs may have its website here with me: the mail domain itself is not served
    assert foreign_clashes(_vhost("a.test", "cliente1"), theirs) == []
    # a certificate naming their site, and my mail domain whose policy name is their site
    cert = {"certificate c1": {"kind": "certificate", "id": "c1", "client": "cliente1", "attrs": {"names": ["b.test", "shop.a.test"]}}}
    assert foreign_clashes(cert, theirs) == ["host name shop.a.test is served by reseller other here (client zeta)"]
    assert foreign_clashes(_obj("mail_domain", "a.test", "cliente1"), theirs) == ["mail_domain a.test is held by reseller other (client zeta)"]
    # the same vhost held by both: said once, as the object
    assert foreign_clashes(_vhost("shop.a.test", "cliente1"), theirs) == ["vhost shop.a.test is held by reseller other (client zeta)"]
    assert foreign_clashes(_vhost("b.test", "cliente1", aliases=["www.b.test"]), theirs) == []


def test_generic_names_held_by_both_resellers_are_shared():
    mine = {**_obj("mail_name", "mail01.fracto.test", RESELLER), **_obj("mailbox", "a@a.test", "cliente1")}
    others = {"other": {**_obj("mail_name", "mail01.fracto.test", RESELLER), **_obj("mailbox", "b@b.test", "zeta")}}
    assert foreign_clashes(mine, others) == []
    assert foreign_clashes(mine, {}) == []


# --- issue 12: the plan printed and stored by plan_report never carries a URL password ---------------------------

def test_plan_report_redacts_what_the_modules_reported(tmp_path):
    from unittest import mock

    from ansible_collections.fracto.hosting.plugins.action import plan_report

    leaky = "rest:https://restic:pw-%s@rest.backup.test/c1/" % SECRET_MARK
    change = {"action": "change", "kind": "backup", "id": "c1/web", "client": "c1", "detail": ["repository: x -> %s" % leaky]}
    task = mock.MagicMock()
    task.args = {"dest": str(tmp_path), "hosts": ["cloud01"], "state": {"reseller": {"name": "demo"}, "clients": {}}}
    task.async_val = 0
    action = plan_report.ActionModule(task, mock.MagicMock(), mock.MagicMock(), mock.MagicMock(), mock.MagicMock(),
                                      mock.MagicMock())
    action._display = mock.MagicMock()
    result = action.run(task_vars={"hostvars": {"cloud01": {"fracto_backup__result": {"changes": [change]}}},
                                   "ansible_check_mode": True})
    written = (tmp_path / "plan-demo.json").read_text()
    printed = " ".join(str(c) for c in action._display.display.call_args_list)
    for text in (written, printed, json.dumps(result)):
        assert SECRET_MARK not in text and "restic:****@rest.backup.test" in text
